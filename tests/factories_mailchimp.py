"""Factories for Mailchimp integrations and connected lists, and emulator helpers."""

from __future__ import annotations

import itertools

import requests

from emulators.mailchimp_data import DEFAULT_API_KEY
from emulators.mailchimp_data import DEFAULT_LIST_ID
from extensions import db
from models.integrations import Integration
from tests import factories_dotdigital

_seq = itertools.count(1)


def integration(base_url: str, two_way: bool = False, priority: str = "remote",
                **values) -> Integration:
    """An integration on the emulator's datacenter path (``/<dc>/3.0``)."""
    n = next(_seq)
    values.setdefault("name", f"Mailchimp {n}")
    values.setdefault("api_secret", DEFAULT_API_KEY)
    row = Integration(type="mailchimp", api_base_url=f"{base_url}/{{dc}}",
                      settings={"activity_interval": 90, "two_way_sync": two_way,
                                "sync_priority": priority}, **values)
    db.session.add(row)
    db.session.commit()
    return row


def seed(base_url: str, **data) -> dict:
    response = requests.post(f"{base_url}/_emulator/mailchimp/seed", json=data, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def control(base_url: str, path: str, data: dict | None = None) -> dict:
    response = requests.post(f"{base_url}/_emulator/{path}", json=data or {}, timeout=5)
    response.raise_for_status()
    return response.json()


def calls(base_url: str) -> list[dict]:
    return requests.get(f"{base_url}/_emulator/calls", timeout=10).json()


def writes(base_url: str) -> list[dict]:
    return [c for c in calls(base_url) if c["method"] != "GET"]


def api(base_url: str) -> requests.Session:
    session = requests.Session()
    session.auth = ("test", DEFAULT_API_KEY)
    session.headers["Accept"] = "application/json"
    return session


def get(base_url: str, path: str, **params) -> dict:
    response = api(base_url).get(f"{base_url}/3.0{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def segment_emails(base_url: str, segment_id: str, audience: str = DEFAULT_LIST_ID) -> list[str]:
    emails, offset = [], 0
    while True:
        body = get(base_url, f"/lists/{audience}/segments/{segment_id}/members", count=1000,
                   offset=offset, include_unsubscribed="true", include_cleaned="true")
        emails += [m["email_address"].lower() for m in body["members"]]
        offset += 1000
        if offset >= body["total_items"]:
            return sorted(emails)


def member(base_url: str, email: str, audience: str = DEFAULT_LIST_ID) -> dict:
    return get(base_url, f"/lists/{audience}/members/{email}")


def contact_list(size: int = 3, **values):
    return factories_dotdigital.contact_list(size, **values)


def connected(base_url: str, size: int = 3, segment: str = "Newsletter readers",
              two_way: bool = False, priority: str = "remote", mc: Integration | None = None,
              **list_values):
    """An integration (audiences synced), a manual list of ``size`` contacts, connected."""
    from integrations.mailchimp import audiences
    from integrations.mailchimp.integration import client_for
    from integrations.mailchimp.integration import sync_integration

    mc = mc or integration(base_url, two_way=two_way, priority=priority)
    sync_integration(mc)
    mlist, rows = contact_list(size, **list_values)
    connection = audiences.connect(client_for(mc), mlist, mc, DEFAULT_LIST_ID, segment)
    return mc, mlist, rows, connection
