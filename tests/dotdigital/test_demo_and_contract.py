"""The demo seeder, and the client's requests checked against the OpenAPI document."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import requests
from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from integrations.dotdigital.demo import DEMO_NAME
from integrations.dotdigital.demo import seed_dotdigital
from integrations.dotdigital.sync import ListSync
from integrations.dotdigital.sync import client_for
from models.integrations import Integration
from tests import factories_dotdigital as dd_factories
from tests.emulators.spec_check import assert_request_matches
from tests.emulators.spec_check import assert_response_matches


def test_demo_seeder_is_idempotent(monkeypatch):
    monkeypatch.setenv("DOTDIGITAL_API_BASE", "http://127.0.0.1:5999")
    assert seed_dotdigital()
    assert seed_dotdigital() is None
    row = db.session.scalar(select(Integration).where(Integration.name == DEMO_NAME))
    assert row.api_base_url == "http://127.0.0.1:5999"
    assert db.session.scalar(select(func.count()).select_from(Integration)) == 1


class Recorder(requests.Session):
    """A requests session that keeps every request and response it sent."""

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, requests.Response]] = []

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        self.sent.append((request, response))
        return response


def _template(spec: dict, method: str, path: str) -> str | None:
    """The spec's path template a concrete path matches; literal segments win."""
    candidates = []
    for template, operations in spec["paths"].items():
        if method.lower() not in operations:
            continue
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            candidates.append((template.count("{"), template))
    return min(candidates)[1] if candidates else None


def test_every_request_the_sync_sends_matches_the_spec(dotdigital_server, dotdigital_spec):
    _dd, mlist, rows, connection = dd_factories.connected(dotdigital_server, size=3)
    recorder = Recorder()
    client = client_for(connection.integration, session=recorder)
    ListSync(connection, client, poll_budget=20).run()
    from services.marketing_lists import sending

    sending.remove(mlist.id, rows[0].id)
    ListSync(connection, client_for(connection.integration, session=recorder),
             poll_budget=20).run()
    ListSync(connection, client_for(connection.integration, session=recorder),
             poll_budget=20).run()
    checked = {"bodies": 0, "responses": 0}
    for request, response in recorder.sent:
        path = requests.utils.urlparse(request.url).path
        template = _template(dotdigital_spec, request.method, path)
        assert template, f"{request.method} {path} is not in the spec"
        if request.body:
            body = json.loads(request.body)
            assert_request_matches(dotdigital_spec, request.method, template, body)
            checked["bodies"] += 1
            if template.endswith("/contacts/import"):
                table = list(csv.reader(io.StringIO(base64.b64decode(body["data"]).decode())))
                assert table[0][0] == "Email" and "FIRSTNAME" in table[0]
        if response.ok:
            assert_response_matches(dotdigital_spec, request.method, template, response)
            checked["responses"] += 1
    paths = {requests.utils.urlparse(r.url).path for r, _ in recorder.sent}
    assert any(p.endswith("/contacts/import") for p in paths)
    assert any(p.endswith("/contacts/delete") for p in paths)
    assert any("/suppressed-since/" in p for p in paths)
    assert checked["bodies"] >= 2 and checked["responses"] > 5
