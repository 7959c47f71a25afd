"""Materialising list membership in the database, never by loading records into Python.

A refresh is two statements whatever the list's size: INSERT … SELECT of the records that
match and are not members yet, and DELETE of the members that stopped matching (unless
they were contacted and the list keeps previously contacted members). Removed and
unsubscribed rows are untouched, so a user's decisions survive every refresh.
"""

from __future__ import annotations

import time

from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import true
from sqlalchemy.dialects.postgresql import insert as pg_insert

from extensions import db
from models.base import UTCDateTime
from models.base import utcnow
from models.lists import ListType
from models.lists import MarketingList
from models.lists import MarketingListItem
from models.lists import MarketingListRemovedItem
from models.lists import MarketingListUnsubscribedItem
from services import records
from services.marketing_lists.filters import compile_filter

ITEMS = MarketingListItem.__table__
REMOVED = MarketingListRemovedItem.__table__
UNSUBSCRIBED = MarketingListUnsubscribedItem.__table__
# Lists evaluated per statement when one record changes; keeps the SELECT small.
LISTS_PER_QUERY = 100
ANALYZE_AFTER_ROWS = 50_000
_STATEMENTS: dict[tuple, object] = {}


def insert_ignoring_duplicates(table):
    """INSERT that skips rows already there: a refresh may race a record's re-evaluation."""
    if db.engine.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("OR IGNORE", dialect="sqlite")


def matching_select(mlist: MarketingList):
    """SELECT of the ids of the records that match the list's filter."""
    record_type = records.get(mlist.entity)
    model = record_type.model
    return select(model.id).where(compile_filter(mlist.filter, record_type.fields))


def materialise(list_id: int) -> dict[str, int]:
    """Bring the list's items in line with its filter; returns what changed."""
    mlist = db.session.get(MarketingList, list_id)
    if mlist is None or mlist.type is ListType.MANUAL:
        return {"added": 0, "removed": 0}
    started = time.monotonic()
    record_type = records.get(mlist.entity)
    model = record_type.model
    condition = compile_filter(mlist.filter, record_type.fields)
    has_items = _any(ITEMS, list_id)
    # A first build skips the per-row probes; nothing can be there to collide with.
    subscribed = true()
    if _any(UNSUBSCRIBED, list_id):
        subscribed = ~exists().where(UNSUBSCRIBED.c.marketing_list_id == list_id,
                                     UNSUBSCRIBED.c.entity_id == model.id)
    source = select(literal(list_id), model.id, subscribed, literal(0),
                    literal(utcnow(), UTCDateTime())).where(condition)
    if has_items:
        source = source.where(~exists().where(ITEMS.c.marketing_list_id == list_id,
                                              ITEMS.c.entity_id == model.id))
    statement = (insert_ignoring_duplicates(ITEMS) if has_items else insert(ITEMS)).from_select(
        ["marketing_list_id", "entity_id", "subscribed", "contacted_times", "created_at"],
        source)
    added = db.session.execute(statement.execution_options(preserve_rowcount=True)).rowcount
    removed = 0
    if has_items:
        leaving = delete(ITEMS).where(
            ITEMS.c.marketing_list_id == list_id,
            ~exists(select(model.id).where(model.id == ITEMS.c.entity_id, condition)))
        if mlist.include_previously_contacted:
            leaving = leaving.where(ITEMS.c.contacted_times == 0)
        removed = db.session.execute(leaving).rowcount
    mlist.built_at = utcnow()
    mlist.build_ms = int((time.monotonic() - started) * 1000)
    db.session.commit()
    if db.engine.dialect.name == "postgresql" and added + removed > ANALYZE_AFTER_ROWS:
        # Fresh statistics before anyone pages the grid: planned as an empty table, a
        # million-member list would be joined by hash instead of walked by index.
        db.session.execute(text("ANALYZE marketing_list_items"))
        db.session.commit()
    return {"added": max(added, 0), "removed": max(removed, 0)}


def _any(table, list_id: int) -> bool:
    return db.session.execute(select(literal(1)).where(
        table.c.marketing_list_id == list_id).limit(1)).first() is not None


def reevaluate_records(entity: str, ids: list[int]) -> dict[str, int]:
    """Re-match changed records against every dynamic list of their type.

    One SELECT evaluates all the lists' filters at once (a CASE column per list), then one
    INSERT and one DELETE apply the difference. Records that no longer exist leave every
    list of their type.
    """
    record_type = records.get(entity)
    model = record_type.model
    ids = sorted(set(ids))
    if not ids:
        return {"added": 0, "removed": 0}
    found = set(db.session.scalars(select(model.id).where(model.id.in_(ids))))
    counts = {"added": 0, "removed": 0}
    # Filters are read only when the statement cache misses; updated_at names a version.
    dynamic = db.session.execute(select(
        MarketingList.id, MarketingList.updated_at, MarketingList.include_previously_contacted)
        .where(MarketingList.entity == entity, MarketingList.type == ListType.DYNAMIC)
        .order_by(MarketingList.id)).all()
    for start in range(0, len(dynamic), LISTS_PER_QUERY):
        chunk = dynamic[start:start + LISTS_PER_QUERY]
        added, removed = _reevaluate_chunk(record_type, ids, chunk)
        counts["added"] += added
        counts["removed"] += removed
    gone = [i for i in ids if i not in found]
    if gone:
        counts["purged"] = purge_records(entity, gone, commit=False)
    db.session.commit()
    return counts


def _matching_statement(record_type, lists):
    """The CASE-per-list SELECT, built once per set of filters.

    Building a hundred filters' expressions costs more than running them; a statement
    object reused as is also hits SQLAlchemy's compiled cache.
    """
    key = (record_type.name, tuple((row.id, row.updated_at) for row in lists))
    statement = _STATEMENTS.get(key)
    if statement is None:
        model = record_type.model
        filters = {list_id: tree for list_id, tree in db.session.execute(
            select(MarketingList.id, MarketingList.filter).where(
                MarketingList.id.in_([row.id for row in lists])))}
        columns = [case((compile_filter(filters[row.id], record_type.fields), 1), else_=0)
                   for row in lists]
        statement = select(model.id, *columns).where(
            model.id.in_(bindparam("ids", expanding=True)))
        if len(_STATEMENTS) >= 64:
            _STATEMENTS.pop(next(iter(_STATEMENTS)))
        _STATEMENTS[key] = statement
    return statement


def _reevaluate_chunk(record_type, ids: list[int], lists) -> tuple[int, int]:
    matched = set()
    statement = _matching_statement(record_type, lists)
    for row in db.session.execute(statement, {"ids": ids}):
        for index, flag in enumerate(row[1:]):
            if flag:
                matched.add((lists[index].id, row[0]))
    list_ids = [row.id for row in lists]
    keeps_contacted = {row.id for row in lists if row.include_previously_contacted}
    existing = {(r.marketing_list_id, r.entity_id): r.contacted_times
                for r in db.session.execute(select(
                    ITEMS.c.marketing_list_id, ITEMS.c.entity_id, ITEMS.c.contacted_times)
                    .where(ITEMS.c.entity_id.in_(ids), ITEMS.c.marketing_list_id.in_(list_ids)))}
    to_add = matched - existing.keys()
    to_remove = [key for key, contacted in existing.items()
                 if key not in matched and not (key[0] in keeps_contacted and contacted)]
    added = removed = 0
    if to_add:
        unsubscribed = set(db.session.execute(select(
            UNSUBSCRIBED.c.marketing_list_id, UNSUBSCRIBED.c.entity_id).where(
            UNSUBSCRIBED.c.entity_id.in_(ids),
            UNSUBSCRIBED.c.marketing_list_id.in_(list_ids))).tuples())
        now = utcnow()
        db.session.execute(insert_ignoring_duplicates(ITEMS), [
            {"marketing_list_id": list_id, "entity_id": entity_id, "contacted_times": 0,
             "subscribed": (list_id, entity_id) not in unsubscribed, "created_at": now}
            for list_id, entity_id in sorted(to_add)])
        added = len(to_add)
    if to_remove:
        # Grouped by list rather than a row-value IN, which SQLite answers by a full scan.
        by_list: dict[int, list[int]] = {}
        for list_id, entity_id in to_remove:
            by_list.setdefault(list_id, []).append(entity_id)
        removed = db.session.execute(delete(ITEMS).where(or_(*(
            and_(ITEMS.c.marketing_list_id == list_id, ITEMS.c.entity_id.in_(entity_ids))
            for list_id, entity_ids in by_list.items())))).rowcount
    return added, removed


def purge_records(entity: str, ids: list[int], commit: bool = True) -> int:
    """Forget deleted records in every list of their type (items, removals, opt-outs)."""
    list_ids = select(MarketingList.id).where(MarketingList.entity == entity)
    purged = 0
    for table in (ITEMS, REMOVED, UNSUBSCRIBED):
        purged += db.session.execute(delete(table).where(
            table.c.entity_id.in_(ids), table.c.marketing_list_id.in_(list_ids))).rowcount
    if commit:
        db.session.commit()
    return purged


def delete_list_rows(list_id: int) -> None:
    """Delete a list's item rows (SQLite does not enforce the cascades)."""
    for table in (ITEMS, REMOVED, UNSUBSCRIBED):
        db.session.execute(delete(table).where(table.c.marketing_list_id == list_id))
