"""Units: the HTTP base's retries and errors, values and hashes, CSV, settings parsing."""

from __future__ import annotations

import csv
import io
from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
from flask import Flask
from flask import jsonify

from integrations.dotdigital.client import DotdigitalClient
from integrations.dotdigital.client import error_code
from integrations.dotdigital.fields import render
from integrations.dotdigital.settings import parse_interval
from integrations.http import ApiClient
from integrations.http import NotFoundError
from integrations.http import RateLimitError
from integrations.http import ServerError
from integrations.http import ValidationError
from services.sync.plan import ExportRow
from services.sync.plan import fields_hash
from tests.emulators.conftest import serve_app


@pytest.fixture
def flaky():
    """A server answering from a script: each call pops the next (status, headers)."""
    app = Flask("flaky")
    app.script = []

    @app.get("/thing")
    def thing():
        status, headers = app.script.pop(0) if app.script else (200, {})
        body = {"ok": True} if status < 400 else {"message": f"nope ERROR_CODE_{status}"}
        return jsonify(body), status, headers

    for base in serve_app(app):
        yield app, base


def test_retries_5xx_and_429_honouring_retry_after(flaky):
    app, base = flaky
    waits = []
    client = ApiClient(base, sleep=waits.append, backoff_base=0.01)
    app.script = [(503, {}), (429, {"Retry-After": "3"}), (200, {})]
    assert client.get("/thing") == {"ok": True}
    assert client.calls == 3 and client.retries == 2
    assert waits[1] >= 3  # the server's wait beats the backoff


def test_429_reset_header_is_used_when_there_is_no_retry_after(flaky):
    app, base = flaky
    waits = []
    client = DotdigitalClient(base, "u", "p", sleep=waits.append, backoff_base=0.01)
    app.script = [(429, {"X-RateLimit-Reset": "7", "X-RateLimit-Limit": "10",
                         "X-RateLimit-Remaining": "0"}), (200, {"X-RateLimit-Limit": "10",
                                                                "X-RateLimit-Remaining": "9"})]
    client.get("/thing")
    assert waits == [7.0]
    assert client.rate.used == 1


def test_a_wait_longer_than_the_cap_fails_clearly(flaky):
    app, base = flaky
    client = ApiClient(base, sleep=lambda s: None)
    app.script = [(429, {"Retry-After": "3600"})]
    with pytest.raises(RateLimitError, match="retry in 3600 s") as caught:
        client.get("/thing")
    assert caught.value.retry_after == 3600


def test_typed_errors_and_exhausted_retries(flaky):
    app, base = flaky
    client = DotdigitalClient(base, "u", "p", sleep=lambda s: None, max_attempts=3)
    app.script = [(404, {})]
    with pytest.raises(NotFoundError):
        client.get("/thing")
    app.script = [(400, {})]
    with pytest.raises(ValidationError) as caught:
        client.get("/thing")
    assert caught.value.code == "ERROR_CODE_400"
    app.script = [(500, {})] * 3
    with pytest.raises(ServerError):
        client.get("/thing")
    assert client.calls == 5


def test_timeouts_are_retried_then_reported():
    client = ApiClient("http://127.0.0.1:9", sleep=lambda s: None, max_attempts=2, timeout=0.5)
    with pytest.raises(ServerError, match="No answer"):
        client.get("/x")
    assert client.calls == 2


def test_error_codes_are_read_from_both_message_forms():
    assert error_code("Error: ERROR_ADDRESSBOOK_NOT_FOUND") == "ERROR_ADDRESSBOOK_NOT_FOUND"
    assert error_code("Field already exists. ERROR_NON_UNIQUE_DATAFIELD") == \
        "ERROR_NON_UNIQUE_DATAFIELD"
    assert error_code("Authorization has been denied for this request.") is None


def test_values_render_per_data_field_type():
    assert render("String", ["Ann", None, "Lee"]) == "Ann Lee"
    assert render("String", [None, ""]) == ""
    assert render("Date", [datetime(2024, 5, 1, 9, 30)]) == "2024-05-01T09:30:00"
    assert render("Date", [date(2024, 5, 1)]) == "2024-05-01T00:00:00"
    assert render("Boolean", [True]) == "true" and render("Boolean", ["no"]) == "false"
    assert render("Numeric", [42.0]) == "42"


def test_the_hash_changes_with_any_exported_value_only():
    one = fields_hash("a@example.com", {"FIRSTNAME": "Ann", "LASTNAME": "Lee"})
    assert one == fields_hash("a@example.com", {"LASTNAME": "Lee", "FIRSTNAME": "Ann"})
    assert one != fields_hash("a@example.com", {"FIRSTNAME": "Anne", "LASTNAME": "Lee"})
    assert one != fields_hash("b@example.com", {"FIRSTNAME": "Ann", "LASTNAME": "Lee"})


def test_csv_quotes_awkward_values(app):
    from integrations.dotdigital.sync import ListSync

    sync = ListSync.__new__(ListSync)
    sync.columns = type("C", (), {"names": ["FIRSTNAME", "NOTES"]})()
    rows = [ExportRow(1, "a@example.com", {"FIRSTNAME": 'Ann "Jo", Jr', "NOTES": "line1\nline2"},
                      "h")]
    table = list(csv.reader(io.StringIO(sync.csv_bytes(rows).decode())))
    assert table == [["Email", "FIRSTNAME", "NOTES"],
                     ["a@example.com", 'Ann "Jo", Jr', "line1\nline2"]]


def test_sync_interval_parsing():
    assert parse_interval("1 day") == timedelta(days=1)
    assert parse_interval("12 hours") == timedelta(hours=12)
    assert parse_interval("30 min") == timedelta(minutes=30)
    assert parse_interval("soon") is None
