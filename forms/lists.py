"""The marketing list form, and the filter builder's and column picker's form state.

The builder keeps its whole state in plain form fields named by path ("0.2" is the
third item of the first group), so every htmx round trip and the final save read the
same fields, and nothing but the server decides what the tree looks like.
"""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import Length
from wtforms.validators import Optional

from services import records

PATH_RE = re.compile(r"^\d+(\.\d+){0,5}$")
MAX_BUILDER_ITEMS = 60


def entity_choices() -> list[tuple[str, str]]:
    return [(rt.name, rt.label) for rt in records.RECORD_TYPES.values()]


class ListForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=255)])
    entity = SelectField("Entity", choices=entity_choices, validate_choice=False)
    type = SelectField("Type", choices=[("", "Choose marketing list type"),
                                        ("dynamic", "Dynamic"), ("on_demand", "On demand")],
                       validate_choice=False)
    include_previously_contacted = BooleanField("Include Previously Contacted Members",
                                                default=True)
    owner_id = SelectField("Owner", coerce=lambda v: int(v) if str(v).isdigit() else None,
                           validate_choice=False)
    description = TextAreaField("Description", validators=[Optional(), Length(max=10_000)])


def parse_filter(form) -> dict:
    """The filter tree from the builder's fields (raw values; validation is separate)."""
    groups = {"": {"op": form.get("fop", "and") if form.get("fop") in ("and", "or") else "and",
                   "items": []}}
    nodes: list[tuple[tuple[int, ...], str, dict]] = []
    for key in form:
        prefix, _, path = key.partition("-")
        if not PATH_RE.match(path) or len(nodes) >= MAX_BUILDER_ITEMS:
            continue
        if prefix == "fop":
            op = form.get(key)
            nodes.append((_sort_key(path), path, {"op": op if op in ("and", "or") else "and",
                                                  "items": []}))
        elif prefix == "ff":
            nodes.append((_sort_key(path), path, _condition(form, path)))
    nodes.sort(key=lambda n: n[0])
    for _, path, node in nodes:
        parent = path.rpartition(".")[0]
        if parent not in groups:
            continue  # an orphan of a removed group
        groups[parent]["items"].append(node)
        if "items" in node:
            groups[path] = node
    return groups[""]


def _sort_key(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in path.split("."))


def _condition(form, path: str) -> dict:
    value = form.getlist(f"fv-{path}") if hasattr(form, "getlist") else [form.get(f"fv-{path}")]
    second = form.get(f"fv2-{path}")
    if second is not None:
        raw = [value[0] if value else "", second]
    elif len(value) > 1:
        raw = value
    else:
        raw = value[0] if value else None
    return {"field": form.get(f"ff-{path}", ""), "op": form.get(f"fo-{path}", ""),
            "value": raw}


def parse_columns(form) -> list[dict]:
    indexes = sorted({int(k[3:]) for k in form if k.startswith("cf-") and k[3:].isdigit()})
    return [{"field": form.get(f"cf-{i}", ""), "label": form.get(f"cl-{i}", ""),
             "sort": form.get(f"cs-{i}", "")} for i in indexes[:MAX_BUILDER_ITEMS]]


def apply_action(action: str, tree: dict, columns: list[dict]) -> tuple[dict, list[dict]]:
    """One builder button: add/remove a condition or group, add/move/remove a column."""
    verb, _, arg = (action or "").partition(":")
    if verb in ("add-cond", "add-group", "remove"):
        target = _find(tree, arg) if verb != "remove" else None
        if verb == "add-cond" and target is not None and "items" in target:
            target["items"].append({"field": "", "op": "", "value": None})
        elif verb == "add-group" and target is not None and "items" in target:
            target["items"].append({"op": "or", "items": [
                {"field": "", "op": "", "value": None}]})
        elif verb == "remove" and arg:
            parent_path, _, index = arg.rpartition(".")
            parent = _find(tree, parent_path)
            if parent is not None and index.isdigit() and int(index) < len(parent["items"]):
                parent["items"].pop(int(index))
    elif verb == "col-add":
        columns.append({"field": "", "label": "", "sort": ""})
    elif verb in ("col-remove", "col-up", "col-down") and arg.isdigit():
        i = int(arg)
        if i < len(columns):
            if verb == "col-remove":
                columns.pop(i)
            elif verb == "col-up" and i > 0:
                columns[i - 1], columns[i] = columns[i], columns[i - 1]
            elif verb == "col-down" and i + 1 < len(columns):
                columns[i + 1], columns[i] = columns[i], columns[i + 1]
    return tree, columns


def _find(tree: dict, path: str):
    node = tree
    for part in (path.split(".") if path else []):
        if not part.isdigit() or "items" not in node or int(part) >= len(node["items"]):
            return None
        node = node["items"][int(part)]
    return node
