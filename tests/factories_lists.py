"""Factories for contacts, leads and marketing lists (committed rows)."""

from __future__ import annotations

import itertools

from extensions import db
from models.contacts import Contact
from models.contacts import Lead
from models.lists import ListType
from models.lists import MarketingList
from services.marketing_lists import membership

_seq = itertools.count(1)


def contact(**values) -> Contact:
    n = next(_seq)
    values.setdefault("first_name", f"First{n}")
    values.setdefault("last_name", f"Last{n}")
    values.setdefault("email", f"contact{n}@example.com")
    row = Contact(**values)
    db.session.add(row)
    db.session.commit()
    return row


def lead(**values) -> Lead:
    n = next(_seq)
    values.setdefault("name", f"Lead {n}")
    values.setdefault("email", f"lead{n}@example.com")
    row = Lead(**values)
    db.session.add(row)
    db.session.commit()
    return row


def marketing_list(conditions=None, op: str = "and", entity: str = "contact",
                   type: ListType = ListType.DYNAMIC, build: bool = True,
                   **values) -> MarketingList:
    n = next(_seq)
    values.setdefault("name", f"List {n}")
    values.setdefault("columns", [{"field": "email", "label": "Email", "sort": ""}])
    row = MarketingList(entity=entity, type=type, filter={"op": op, "items": conditions or []},
                        **values)
    db.session.add(row)
    db.session.commit()
    if build:
        membership.materialise(row.id)
    return row


def members(mlist: MarketingList) -> list[int]:
    from sqlalchemy import select

    from models.lists import MarketingListItem

    return list(db.session.scalars(select(MarketingListItem.entity_id).where(
        MarketingListItem.marketing_list_id == mlist.id).order_by(MarketingListItem.entity_id)))
