"""A list's sending set: members − removed − unsubscribed, with a usable email.

Email campaigns and both integrations read recipients through this module and nothing
else, so "who gets mail from this list" has one definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import select
from sqlalchemy import update

from extensions import db
from models.base import utcnow
from models.lists import MarketingList
from models.lists import MarketingListItem
from models.lists import MarketingListRemovedItem
from models.lists import MarketingListUnsubscribedItem
from services import records
from services.marketing_lists.membership import insert_ignoring_duplicates
from services.sql_lists import in_values

ITEMS = MarketingListItem.__table__
REMOVED = MarketingListRemovedItem.__table__
UNSUBSCRIBED = MarketingListUnsubscribedItem.__table__


@dataclass(frozen=True)
class Recipient:
    entity_type: str
    entity_id: int
    email: str
    fields: dict[str, object] = field(default_factory=dict)


class ListNotFound(LookupError):
    pass


def _list(list_id: int) -> MarketingList:
    mlist = db.session.get(MarketingList, list_id)
    if mlist is None:
        raise ListNotFound(f"marketing list {list_id} does not exist")
    return mlist


def sending_set_query(list_id: int) -> Select:
    """SELECT entity_id, email and every registry field of the list's sending set.

    Ordered by entity_id, so callers can page it by keyset (``entity_id > last``).
    """
    mlist = _list(list_id)
    record_type = records.get(mlist.entity)
    model = record_type.model
    email = record_type.email_column
    columns = [ITEMS.c.entity_id.label("entity_id"), email.label("email")]
    columns += [f.column.label(f"f_{f.key}") for f in record_type.fields.values()]
    return (select(*columns)
            .select_from(ITEMS.join(model.__table__, model.id == ITEMS.c.entity_id))
            .where(ITEMS.c.marketing_list_id == list_id,
                   ITEMS.c.subscribed.is_(True),
                   ~exists().where(REMOVED.c.marketing_list_id == list_id,
                                   REMOVED.c.entity_id == ITEMS.c.entity_id),
                   email.is_not(None), email.like("%_@_%"))
            .order_by(ITEMS.c.entity_id))


def iter_sending_set(list_id: int, batch_size: int = 500) -> Iterator[list[Recipient]]:
    """The sending set in batches, paged by entity_id so memory stays flat."""
    entity = _list(list_id).entity
    query = sending_set_query(list_id)
    last = 0
    while True:
        rows = db.session.execute(query.where(ITEMS.c.entity_id > last)
                                  .limit(batch_size)).all()
        if not rows:
            return
        batch = []
        for row in rows:
            mapping = row._mapping
            batch.append(Recipient(entity, row.entity_id, row.email,
                                   {k[2:]: v for k, v in mapping.items()
                                    if k.startswith("f_")}))
        yield batch
        last = rows[-1].entity_id
        if len(rows) < batch_size:
            return


def record_contacted(list_id: int, entity_ids: list[int], at: datetime) -> None:
    """Count one more contact for these members (Total contacted, Last contacted at)."""
    if not entity_ids:
        return
    db.session.execute(update(ITEMS).where(
        ITEMS.c.marketing_list_id == list_id, in_values(ITEMS.c.entity_id, entity_ids)).values(
        contacted_times=ITEMS.c.contacted_times + 1, last_contacted_at=at))
    db.session.execute(update(MarketingList.__table__).where(
        MarketingList.__table__.c.id == list_id).values(last_used_at=at))
    db.session.commit()


def unsubscribe(list_id: int, entity_id: int) -> None:
    """Opt the record out of this list; it stays out through refreshes and re-matches."""
    db.session.execute(insert_ignoring_duplicates(UNSUBSCRIBED), [{
        "marketing_list_id": list_id, "entity_id": entity_id, "created_at": utcnow()}])
    db.session.execute(update(ITEMS).where(ITEMS.c.marketing_list_id == list_id,
                                           ITEMS.c.entity_id == entity_id)
                       .values(subscribed=False))
    db.session.commit()


def subscribe(list_id: int, entity_id: int) -> None:
    db.session.execute(delete(UNSUBSCRIBED).where(UNSUBSCRIBED.c.marketing_list_id == list_id,
                                                  UNSUBSCRIBED.c.entity_id == entity_id))
    db.session.execute(update(ITEMS).where(ITEMS.c.marketing_list_id == list_id,
                                           ITEMS.c.entity_id == entity_id)
                       .values(subscribed=True))
    db.session.commit()


def remove(list_id: int, entity_id: int) -> None:
    db.session.execute(insert_ignoring_duplicates(REMOVED), [{
        "marketing_list_id": list_id, "entity_id": entity_id, "created_at": utcnow()}])
    db.session.commit()


def undo_remove(list_id: int, entity_id: int) -> None:
    db.session.execute(delete(REMOVED).where(REMOVED.c.marketing_list_id == list_id,
                                             REMOVED.c.entity_id == entity_id))
    db.session.commit()


def exit_reasons(list_id: int, entity_ids: list[int]) -> dict[int, str]:
    """Why each record is outside the sending set: "removed", "unsubscribed" or "left".

    Integrations use it to mirror the reason remotely (an opt-out is not a departure).
    """
    reasons = {entity_id: "left" for entity_id in entity_ids}
    for start in range(0, len(entity_ids), 1000):
        chunk = entity_ids[start:start + 1000]
        for entity_id in db.session.scalars(select(UNSUBSCRIBED.c.entity_id).where(
                UNSUBSCRIBED.c.marketing_list_id == list_id,
                UNSUBSCRIBED.c.entity_id.in_(chunk))):
            reasons[entity_id] = "unsubscribed"
        for entity_id in db.session.scalars(select(REMOVED.c.entity_id).where(
                REMOVED.c.marketing_list_id == list_id, REMOVED.c.entity_id.in_(chunk))):
            reasons[entity_id] = "removed"
    return reasons
