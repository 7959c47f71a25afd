"""Property: a compiled filter selects exactly the rows a plain Python reading selects.

Random rows of every field type (with NULLs, empty strings and LIKE wildcards) and random
nested AND/OR filters; the oracle below is written from the semantics in the filters
module's docstring, independently of the compiler.
"""

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Date
from sqlalchemy import Float
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select

from extensions import db
from models.base import UTCDateTime
from services.marketing_lists.filters import OPERATORS
from services.marketing_lists.filters import compile_filter
from services.marketing_lists.filters import validate
from services.records import FieldDef

META = MetaData()
TABLE = Table("hyp_records", META,
              Column("id", Integer, primary_key=True),
              Column("s", String(20)), Column("e", String(20)), Column("c", String(5)),
              Column("n", Float), Column("d", Date), Column("dt", UTCDateTime()),
              Column("b", Boolean))
CHOICES = (("x", "X"), ("y", "Y"), ("z", "Z"))
FIELDS = {
    "s": FieldDef("s", "S", "string", TABLE.c.s),
    "e": FieldDef("e", "E", "email", TABLE.c.e, contact_info=True),
    "c": FieldDef("c", "C", "choice", TABLE.c.c, choices=CHOICES),
    "n": FieldDef("n", "N", "number", TABLE.c.n),
    "d": FieldDef("d", "D", "date", TABLE.c.d),
    "dt": FieldDef("dt", "DT", "datetime", TABLE.c.dt),
    "b": FieldDef("b", "B", "bool", TABLE.c.b),
}
BASE_DAY = date(2024, 1, 1)

text = st.text(alphabet="aAbB%_/\\ ", max_size=4)
days = st.integers(0, 4).map(lambda n: BASE_DAY + timedelta(days=n))
moments = st.integers(0, 5 * 24 - 1).map(
    lambda h: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=h))
rows = st.lists(st.fixed_dictionaries({
    "s": st.none() | text, "e": st.none() | text,
    "c": st.sampled_from([None, "", "x", "y", "z"]),
    "n": st.none() | st.sampled_from([-2, -1, 0, 0.5, 1, 2]),
    "d": st.none() | days, "dt": st.none() | moments, "b": st.none() | st.booleans(),
}), max_size=12)


def _value(key: str, op: str):
    kind = FIELDS[key].type
    if op in ("empty", "not_empty", "is_true", "is_false"):
        return st.none()
    if kind in ("string", "email"):
        word = st.text(alphabet="aAbB%_/\\", min_size=1, max_size=3)
        return st.lists(word, min_size=1, max_size=3) if op in ("in", "not_in") else word
    if kind == "choice":
        one = st.sampled_from(["x", "y", "z"])
        return st.lists(one, min_size=1, max_size=2) if op in ("in", "not_in") else one
    if kind == "number":
        one = st.sampled_from([-2, -1, 0, 0.5, 1, 2])
        return st.lists(one, min_size=2, max_size=2).map(sorted) if op == "between" else one
    iso = days.map(date.isoformat)
    return st.lists(iso, min_size=2, max_size=2).map(sorted) if op == "between" else iso


@st.composite
def conditions(draw):
    key = draw(st.sampled_from(sorted(FIELDS)))
    op = draw(st.sampled_from(OPERATORS[FIELDS[key].type]))
    return {"field": key, "op": op, "value": draw(_value(key, op))}


trees = st.recursive(
    conditions(),
    lambda children: st.fixed_dictionaries({"op": st.sampled_from(["and", "or"]),
                                            "items": st.lists(children, min_size=1,
                                                              max_size=3)}),
    max_leaves=8)
filters = st.fixed_dictionaries({"op": st.sampled_from(["and", "or"]),
                                 "items": st.lists(trees, max_size=3)})


# -- the oracle -----------------------------------------------------------------------------

def _fold(value):
    return value.lower()


def _holds(cond, row) -> bool:
    field = FIELDS[cond["field"]]
    op, x, v = cond["op"], cond["value"], row[cond["field"]]
    kind = field.type
    if kind in ("string", "email"):
        empty = v is None or v == ""
        if op == "empty":
            return empty
        if op == "not_empty":
            return not empty
        if op in ("neq", "not_contains", "not_in"):
            positive = {"neq": "eq", "not_contains": "contains", "not_in": "in"}[op]
            return v is None or not _holds({**cond, "op": positive}, row)
        if v is None:
            return False
        folded = _fold(v)
        return {"eq": lambda: folded == _fold(x),
                "contains": lambda: _fold(x) in folded,
                "starts_with": lambda: folded.startswith(_fold(x)),
                "ends_with": lambda: folded.endswith(_fold(x)),
                "in": lambda: folded in {_fold(i) for i in x}}[op]()
    if kind == "choice":
        return {"empty": lambda: v in (None, ""), "not_empty": lambda: v not in (None, ""),
                "eq": lambda: v == x, "neq": lambda: v is None or v != x,
                "in": lambda: v in x, "not_in": lambda: v is None or v not in x}[op]()
    if kind == "bool":
        return v is True if op == "is_true" else v is not True
    if op == "empty":
        return v is None
    if op == "not_empty":
        return v is not None
    if kind == "number":
        if op == "neq":
            return v is None or v != x
        if v is None:
            return False
        return {"eq": lambda: v == x, "lt": lambda: v < x, "lte": lambda: v <= x,
                "gt": lambda: v > x, "gte": lambda: v >= x,
                "between": lambda: x[0] <= v <= x[1]}[op]()
    if v is None:
        return False
    day = v.date() if kind == "datetime" else v
    bounds = [date.fromisoformat(i) for i in (x if isinstance(x, list) else [x])]
    return {"on": lambda: day == bounds[0], "before": lambda: day < bounds[0],
            "after": lambda: day > bounds[0],
            "between": lambda: bounds[0] <= day <= bounds[1]}[op]()


def _matches(tree, row) -> bool:
    if "items" in tree:
        results = [_matches(item, row) for item in tree["items"]]
        if not results:
            return True
        return all(results) if tree["op"] == "and" else any(results)
    return _holds(tree, row)


@pytest.fixture
def table(app):
    META.create_all(db.engine)
    yield TABLE
    db.session.rollback()
    META.drop_all(db.engine)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=rows, tree=filters)
def test_sql_matches_python(table, data, tree):
    db.session.execute(delete(table))
    if data:
        db.session.execute(insert(table), [{"id": i + 1, **row} for i, row in enumerate(data)])
    normalised = validate(tree, FIELDS)
    sql_ids = set(db.session.scalars(select(table.c.id).where(compile_filter(tree, FIELDS))))
    python_ids = {i + 1 for i, row in enumerate(data) if _matches(normalised, row)}
    db.session.rollback()
    assert sql_ids == python_ids, (normalised, data)
