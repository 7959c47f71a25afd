"""Factories for Dotdigital integrations and connected lists (committed rows)."""

from __future__ import annotations

import itertools

import requests

from emulators.dotdigital_data import DEFAULT_PASSWORD
from emulators.dotdigital_data import DEFAULT_USERNAME
from extensions import db
from models.integrations import Integration
from models.lists import ListType
from services.integrations import connections
from tests import factories_lists

_seq = itertools.count(1)


def integration(base_url: str, **values) -> Integration:
    n = next(_seq)
    values.setdefault("name", f"Dotdigital {n}")
    values.setdefault("api_username", DEFAULT_USERNAME)
    values.setdefault("api_secret", DEFAULT_PASSWORD)
    row = Integration(type="dotdigital", api_base_url=base_url, settings={}, **values)
    db.session.add(row)
    db.session.commit()
    return row


def seed(base_url: str, **data) -> dict:
    response = requests.post(f"{base_url}/_emulator/dotdigital/seed", json=data, timeout=5)
    response.raise_for_status()
    return response.json()


def control(base_url: str, path: str, data: dict | None = None) -> dict:
    response = requests.post(f"{base_url}/_emulator/{path}", json=data or {}, timeout=5)
    response.raise_for_status()
    return response.json()


def remote_state(base_url: str) -> dict:
    return requests.get(f"{base_url}/_emulator/dotdigital/state", timeout=10).json()


def book_members(base_url: str, book_name: str) -> list[str]:
    for book in remote_state(base_url)["address_books"]:
        if book["name"] == book_name:
            return sorted(book["members"])
    raise AssertionError(f"no book {book_name}")


def contact_list(size: int = 3, entity: str = "contact", **list_values):
    """A manual list with ``size`` fresh contacts as members."""
    from models.base import utcnow
    from models.lists import MarketingListItem
    from services.marketing_lists.membership import insert_ignoring_duplicates

    mlist = factories_lists.marketing_list(entity=entity, type=ListType.MANUAL, build=False,
                                           **list_values)
    make = factories_lists.contact if entity == "contact" else factories_lists.lead
    rows = [make() for _ in range(size)]
    if rows:
        db.session.execute(insert_ignoring_duplicates(MarketingListItem.__table__), [
            {"marketing_list_id": mlist.id, "entity_id": r.id, "subscribed": True,
             "contacted_times": 0, "created_at": utcnow()} for r in rows])
        db.session.commit()
    return mlist, rows


def connected(base_url: str, size: int = 3, book: str = "Newsletter", entity: str = "contact",
              create_entities: bool = False, dd: Integration | None = None):
    """An integration (books and fields synced), a list of ``size`` members, connected."""
    from integrations.dotdigital.sync import client_for
    from integrations.dotdigital.sync import sync_integration

    seed(base_url, address_books=[{"name": book}])
    dd = dd or integration(base_url)
    sync_integration(dd)
    mlist, rows = contact_list(size, entity)
    remote_id = str(next(b["id"] for b in client_for(dd).address_books() if b["name"] == book))
    connection = connections.connect(mlist, dd, remote_id, create_entities)
    return dd, mlist, rows, connection
