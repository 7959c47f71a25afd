"""Marketing-list filters: a JSON tree, validated against the registry, compiled to SQL.

A filter is a group ``{"op": "and"|"or", "items": [...]}`` whose items are conditions
``{"field": key, "op": operator, "value": ...}`` or nested groups. Users pick fields and
operators from the registry; nothing they type reaches SQL except as a bound parameter.

Semantics (the property test in tests/lists/test_filters_property.py holds SQL to them):
- Text matching folds ASCII case; NULL and "" are both "empty".
- Negative operators (not equals, does not contain, not in) also match empty values, as a
  marketer reading "company is not Acme" expects.
- Dates are compared by day: for a datetime field, "on D" is D 00:00 ≤ v < D+1 00:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import true

MAX_DEPTH = 4
MAX_CONDITIONS = 50
MAX_IN_VALUES = 100
MAX_VALUE_LENGTH = 255

OPERATOR_LABELS = {
    "eq": "equals", "neq": "not equals", "contains": "contains",
    "not_contains": "does not contain", "starts_with": "starts with",
    "ends_with": "ends with", "in": "is any of", "not_in": "is none of",
    "empty": "is empty", "not_empty": "is not empty",
    "lt": "less than", "lte": "at most", "gt": "greater than", "gte": "at least",
    "between": "between", "on": "on", "before": "before", "after": "after",
    "is_true": "is yes", "is_false": "is no",
}

_TEXT_OPS = ("eq", "neq", "contains", "not_contains", "starts_with", "ends_with", "in",
             "not_in", "empty", "not_empty")
OPERATORS: dict[str, tuple[str, ...]] = {
    "string": _TEXT_OPS,
    "email": _TEXT_OPS,
    "phone": _TEXT_OPS,
    "choice": ("eq", "neq", "in", "not_in", "empty", "not_empty"),
    "number": ("eq", "neq", "lt", "lte", "gt", "gte", "between", "empty", "not_empty"),
    "date": ("on", "before", "after", "between", "empty", "not_empty"),
    "datetime": ("on", "before", "after", "between", "empty", "not_empty"),
    "bool": ("is_true", "is_false"),
}
NO_VALUE = frozenset({"empty", "not_empty", "is_true", "is_false"})
LIST_VALUE = frozenset({"in", "not_in"})
PAIR_VALUE = frozenset({"between"})
_TEXT_TYPES = frozenset({"string", "email", "phone"})


class FilterError(ValueError):
    """Invalid filter; ``errors`` maps a condition's path ("0.2") to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k or 'filter'}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class _Context:
    fields: dict
    errors: dict
    conditions: int = 0


def empty_filter() -> dict:
    return {"op": "and", "items": []}


def validate(tree, fields: dict) -> dict:
    """The normalised filter (values parsed to their types' canonical JSON form).

    Raises FilterError listing every problem, keyed by path, so a form can show each
    message beside its condition.
    """
    if tree in (None, {}, ""):
        return empty_filter()
    ctx = _Context(fields, {})
    normalised = _validate_group(tree, "", 0, ctx)
    if ctx.errors:
        raise FilterError(ctx.errors)
    return normalised


def _validate_group(group, path: str, depth: int, ctx: _Context) -> dict:
    if not isinstance(group, dict) or group.get("op") not in ("and", "or") \
            or not isinstance(group.get("items", []), list):
        ctx.errors[path] = "Not a valid condition group."
        return empty_filter()
    if depth > MAX_DEPTH:
        ctx.errors[path] = f"Groups can be nested at most {MAX_DEPTH} levels deep."
        return empty_filter()
    items = []
    for index, item in enumerate(group.get("items", [])):
        child = f"{path}.{index}" if path else str(index)
        if isinstance(item, dict) and "items" in item:
            if not item.get("items"):
                ctx.errors[child] = "Add a condition to this group or remove it."
                continue
            items.append(_validate_group(item, child, depth + 1, ctx))
        else:
            ctx.conditions += 1
            if ctx.conditions > MAX_CONDITIONS:
                ctx.errors[child] = f"A filter can have at most {MAX_CONDITIONS} conditions."
                continue
            condition = _validate_condition(item, child, ctx)
            if condition is not None:
                items.append(condition)
    return {"op": group["op"], "items": items}


def _validate_condition(item, path: str, ctx: _Context) -> dict | None:
    if not isinstance(item, dict):
        ctx.errors[path] = "Not a valid condition."
        return None
    key, op = item.get("field"), item.get("op")
    field = ctx.fields.get(key) if isinstance(key, str) else None
    if field is None:
        ctx.errors[path] = "Choose a field." if not key else f"Unknown field “{key}”."
        return None
    allowed = OPERATORS[field.type]
    if op not in allowed:
        ctx.errors[path] = (f"“{op}” cannot be used with {field.label}." if op
                            else "Choose an operator.")
        return None
    try:
        value = _parse_value(field, op, item.get("value"))
    except ValueError as exc:
        ctx.errors[path] = f"{field.label}: {exc}"
        return None
    return {"field": key, "op": op, "value": value}


def _parse_value(field, op: str, raw):
    if op in NO_VALUE:
        return None
    if op in LIST_VALUE:
        values = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(values, list):
            raise ValueError("enter one or more values.")
        values = [_parse_scalar(field, v) for v in values
                  if not (isinstance(v, str) and not v.strip())]
        if not values:
            raise ValueError("enter one or more values.")
        if len(values) > MAX_IN_VALUES:
            raise ValueError(f"at most {MAX_IN_VALUES} values.")
        return values
    if op in PAIR_VALUE:
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise ValueError("enter both ends of the range.")
        low, high = (_parse_scalar(field, v) for v in raw)
        if low > high:
            raise ValueError("the start of the range is after its end.")
        return [low, high]
    return _parse_scalar(field, raw)


def _parse_scalar(field, raw):
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValueError("enter a value.")
    if field.type in _TEXT_TYPES:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ValueError("enter text.")
        text = str(raw).strip()
        if len(text) > MAX_VALUE_LENGTH:
            raise ValueError(f"at most {MAX_VALUE_LENGTH} characters.")
        return text
    if field.type == "choice":
        allowed = {value for value, _ in field.choices}
        if raw not in allowed:
            raise ValueError(f"“{raw}” is not one of the choices.")
        return raw
    if field.type == "number":
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"“{raw}” is not a number.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("enter a finite number.")
        return int(number) if number.is_integer() else number
    if field.type in ("date", "datetime"):
        try:
            return date.fromisoformat(str(raw).strip()[:10]).isoformat()
        except ValueError:
            raise ValueError(f"“{raw}” is not a date (YYYY-MM-DD).") from None
    raise ValueError("this field takes no value.")


# -- compilation --------------------------------------------------------------------------

def compile_filter(tree, fields: dict):
    """A SQLAlchemy boolean expression over the record table for a *validated* filter."""
    tree = validate(tree, fields)
    return _compile_group(tree, fields)


def _compile_group(group: dict, fields: dict):
    parts = [(_compile_group(item, fields) if "items" in item
              else _compile_condition(item, fields)) for item in group["items"]]
    if not parts:
        return true()
    return and_(*parts) if group["op"] == "and" else or_(*parts)


def _compile_condition(cond: dict, fields: dict):
    field = fields[cond["field"]]
    op, value, col = cond["op"], cond["value"], field.column
    if field.type in _TEXT_TYPES:
        return _text(col, op, value)
    if op == "empty":
        return col.is_(None) if field.type != "choice" else or_(col.is_(None), col == "")
    if op == "not_empty":
        return col.is_not(None) if field.type != "choice" else and_(col.is_not(None),
                                                                    col != "")
    if field.type == "choice":
        if op == "eq":
            return col == value
        if op == "neq":
            return or_(col.is_(None), col != value)
        if op == "in":
            return col.in_(value)
        return or_(col.is_(None), col.not_in(value))
    if field.type == "bool":
        return col.is_(True) if op == "is_true" else or_(col.is_(None), col.is_(False))
    if field.type == "number":
        return _number(col, op, value)
    return _dates(col, op, value, field.type == "datetime")


def _text(col, op: str, value):
    folded = func.lower(col)
    if op == "empty":
        return or_(col.is_(None), col == "")
    if op == "not_empty":
        return and_(col.is_not(None), col != "")
    if op in ("in", "not_in"):
        positive = folded.in_(sorted({v.lower() for v in value}))
    elif op in ("eq", "neq"):
        positive = folded == value.lower()
    elif op in ("contains", "not_contains"):
        positive = folded.contains(value.lower(), autoescape=True)
    elif op == "starts_with":
        return folded.startswith(value.lower(), autoescape=True)
    elif op == "ends_with":
        return folded.endswith(value.lower(), autoescape=True)
    else:
        raise FilterError({"": f"unknown operator {op}"})
    if op in ("neq", "not_contains", "not_in"):
        return or_(col.is_(None), not_(positive))
    return positive


def _number(col, op: str, value):
    if op == "eq":
        return col == value
    if op == "neq":
        return or_(col.is_(None), col != value)
    if op == "lt":
        return col < value
    if op == "lte":
        return col <= value
    if op == "gt":
        return col > value
    if op == "gte":
        return col >= value
    return col.between(value[0], value[1])


def _dates(col, op: str, value, is_datetime: bool):
    if is_datetime:
        def start(day: str) -> datetime:
            return datetime.combine(date.fromisoformat(day), time.min, tzinfo=UTC)

        def after(day: str) -> datetime:
            return start(day) + timedelta(days=1)

        if op == "on":
            return and_(col >= start(value), col < after(value))
        if op == "before":
            return col < start(value)
        if op == "after":
            return col >= after(value)
        return and_(col >= start(value[0]), col < after(value[1]))
    if op == "on":
        return col == date.fromisoformat(value)
    if op == "before":
        return col < date.fromisoformat(value)
    if op == "after":
        return col > date.fromisoformat(value)
    return col.between(date.fromisoformat(value[0]), date.fromisoformat(value[1]))


def is_empty(tree) -> bool:
    return not tree or not tree.get("items")


def condition_count(tree) -> int:
    if not tree:
        return 0
    return sum(condition_count(i) if "items" in i else 1 for i in tree.get("items", []))
