"""Filter validation against the registry, and compilation details."""

import pytest
from sqlalchemy import select

from extensions import db
from models.contacts import Contact
from services import records
from services.marketing_lists.filters import MAX_CONDITIONS
from services.marketing_lists.filters import FilterError
from services.marketing_lists.filters import compile_filter
from services.marketing_lists.filters import validate
from tests import factories_lists as fl

CONTACT = records.get("contact").fields
LEAD = records.get("lead").fields


def _errors(tree, fields=CONTACT) -> dict:
    with pytest.raises(FilterError) as info:
        validate(tree, fields)
    return info.value.errors


def test_unknown_field_operator_and_bad_values_are_reported_by_path():
    errors = _errors({"op": "and", "items": [
        {"field": "salary", "op": "eq", "value": "1"},
        {"field": "email", "op": "before", "value": "2024-01-01"},
        {"op": "or", "items": [{"field": "created_at", "op": "after", "value": "yesterday"},
                               {"field": "company", "op": "eq", "value": "  "}]},
    ]})
    assert errors == {
        "0": "Unknown field “salary”.",
        "1": "“before” cannot be used with Email.",
        "2.0": "Created: “yesterday” is not a date (YYYY-MM-DD).",
        "2.1": "Company: enter a value.",
    }


def test_choice_values_must_be_choices_and_ranges_ordered():
    errors = _errors({"op": "and", "items": [
        {"field": "status", "op": "in", "value": ["new", "won"]},
        {"field": "created_at", "op": "between", "value": ["2024-02-01", "2024-01-01"]}]},
        LEAD)
    assert errors["0"] == "Status: “won” is not one of the choices."
    assert errors["1"] == "Created: the start of the range is after its end."


def test_structure_limits():
    assert _errors({"op": "xor", "items": []}) == {"": "Not a valid condition group."}
    assert _errors({"op": "and", "items": [{"op": "or", "items": []}]}) == {
        "0": "Add a condition to this group or remove it."}
    deep = {"field": "email", "op": "empty", "value": None}
    for _ in range(6):
        deep = {"op": "and", "items": [deep]}
    assert "nested at most" in " ".join(_errors({"op": "and", "items": [deep]}).values())
    many = [{"field": "email", "op": "empty"}] * (MAX_CONDITIONS + 1)
    assert str(MAX_CONDITIONS) in _errors({"op": "and", "items": many})[str(MAX_CONDITIONS)]
    assert _errors({"op": "and", "items": ["DROP TABLE contacts"]}) == {
        "0": "Not a valid condition."}


def test_in_accepts_a_comma_separated_string_and_normalises():
    tree = validate({"op": "or", "items": [
        {"field": "country", "op": "in", "value": "France, Spain,,"},
        {"field": "created_at", "op": "on", "value": "2024-01-05T10:00"}]}, CONTACT)
    assert tree["items"][0]["value"] == ["France", "Spain"]
    assert tree["items"][1]["value"] == "2024-01-05"


def test_values_are_bound_parameters_never_sql(app):
    fl.contact(company="x'); DROP TABLE contacts; --")
    fl.contact(company="Acme")
    condition = compile_filter({"op": "and", "items": [
        {"field": "company", "op": "eq", "value": "x'); DROP TABLE contacts; --"}]}, CONTACT)
    assert len(db.session.scalars(select(Contact).where(condition)).all()) == 1
    assert db.session.scalar(select(db.func.count()).select_from(Contact)) == 2


def test_wildcards_in_values_are_literal(app):
    fl.contact(company="100% Cotton")
    fl.contact(company="1000 Cotton")
    condition = compile_filter({"op": "and", "items": [
        {"field": "company", "op": "contains", "value": "0%"}]}, CONTACT)
    assert [c.company for c in db.session.scalars(select(Contact).where(condition))] == [
        "100% Cotton"]


def test_owner_is_filterable_through_its_email(app):
    from tests import factories

    owner = factories.user(email="owner@example.com")
    mine = fl.contact(owner_id=owner.id)
    fl.contact()
    condition = compile_filter({"op": "and", "items": [
        {"field": "owner", "op": "starts_with", "value": "OWNER@"}]}, CONTACT)
    assert [c.id for c in db.session.scalars(select(Contact).where(condition))] == [mine.id]
