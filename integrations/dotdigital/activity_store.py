"""Set-based storage of imported campaign activity: a batch costs a handful of statements.

Recipient and MarketingActivity rows, of one campaign or several, are gathered into a
batch, loaded into temporary staging tables (COPY on PostgreSQL, executemany elsewhere)
and applied with INSERT … SELECT and UPDATE … FROM:

- recipients are upserted with their counts set as Dotdigital reports them, never added
  to; rows whose counts did not change are left alone, so a re-import rewrites nothing;
- list items of recipients seen for the first time move (Total contacted, Last contacted
  at) in the same transaction as the recipient rows that mark them as counted. A batch
  spanning several campaigns of a list moves each item once, by the number of campaigns;
- activities are inserted unless their event key is already stored, so a re-import adds
  nothing;
- a campaign's cursors move only once every row read before them is stored.

Row-at-a-time INSERTs made a million-activity import take ten minutes on PostgreSQL.
There, ``BatchWriter`` also stores recipients and activities on two threads of their own,
so the database works on both cores while the importer reads and prepares the next batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime

from flask import current_app
from sqlalchemy import Column
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy import update
from sqlalchemy.schema import CreateTable

from extensions import db
from models.base import UTCDateTime
from models.base import utcnow
from models.dotdigital import DotdigitalCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.email_campaigns import RecipientStatus
from models.lists import MarketingList
from models.lists import MarketingListItem
from models.marketing_activity import MarketingActivity

R = EmailCampaignRecipient.__table__
ITEMS = MarketingListItem.__table__
LISTS = MarketingList.__table__
ACTIVITIES = MarketingActivity.__table__

# Rows (recipients and activities) per transaction. Larger batches move a list item once
# for several campaigns; smaller ones start the database working sooner.
BATCH_ROWS = 80_000

_STAGE = MetaData()
# Callers pass tuples in these columns' order.
STAGED_RECIPIENTS = Table(
    "dd_staged_recipients", _STAGE,
    Column("email_campaign_id", Integer), Column("marketing_list_id", Integer),
    Column("entity_type", String(40)), Column("entity_id", Integer),
    Column("email", String(254)), Column("sent_at", UTCDateTime),
    Column("open_count", Integer), Column("click_count", Integer),
    Column("bounce_count", Integer), Column("unsubscribe_count", Integer),
    prefixes=["TEMPORARY"])
STAGED_ACTIVITIES = Table(
    "dd_staged_activities", _STAGE,
    Column("type", String(20)), Column("campaign_id", Integer),
    Column("email_campaign_id", Integer), Column("entity_type", String(40)),
    Column("entity_id", Integer), Column("action_date", UTCDateTime), Column("details", Text),
    Column("event_key", String(64)), prefixes=["TEMPORARY"])
# List items reached for the first time by this batch, and by how many campaigns.
FIRST_CONTACTS = Table(
    "dd_first_contacts", _STAGE,
    Column("marketing_list_id", Integer), Column("entity_id", Integer),
    Column("times", Integer), Column("contacted_at", UTCDateTime), prefixes=["TEMPORARY"])
# Set from Dotdigital's numbers on every import; the rest is written once.
RECIPIENT_COUNTS = ("email", "status", "sent_at", "open_count", "click_count", "bounce_count",
                    "unsubscribe_count")


@dataclass(frozen=True)
class Cursor:
    """A campaign's cursor to move once everything read before it is stored."""

    campaign_id: int  # DotdigitalCampaign.id
    field: str  # "activity_cursor" or "events_cursor"
    value: datetime


@dataclass
class Batch:
    # (email campaign, entity) → row: one upsert statement may not touch a row twice.
    recipients: dict[tuple[int, int], tuple] = field(default_factory=dict)
    activities: list[tuple] = field(default_factory=list)
    cursors: list[Cursor] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.recipients) + len(self.activities)


class BatchWriter:
    """Gathers rows into batches and stores them in order.

    On PostgreSQL two threads, each with its own app context (hence session and
    connection), store a batch's recipients and its activities side by side while the
    caller prepares the next batch; the two parts touch different tables and each is
    idempotent, so they commit apart, and the batch's cursors move (on the caller's
    thread) only once both have. SQLite allows one writer at a time: there the caller's
    session stores the whole batch in one transaction. ``on_done`` gets each batch's
    counts, always on the caller's thread. At most ``depth`` batches wait, bounding memory.
    """

    def __init__(self, on_done: Callable[[dict], None], rows: int | None = None,
                 depth: int = 1):
        self.on_done, self.batch_rows, self.depth = on_done, rows or BATCH_ROWS, depth
        self._batch = Batch()
        self._pools = [ThreadPoolExecutor(1, thread_name_prefix=f"dd-{part}-writer")
                       for part in ("recipients", "activities")] if _postgresql() else []
        self._app = current_app._get_current_object()
        self._pending: deque[tuple[Future, Future, list[Cursor]]] = deque()

    def add(self, recipients: list[tuple], activities: list[tuple]) -> None:
        for row in recipients:
            self._batch.recipients[(row[0], row[3])] = row
        self._batch.activities += activities
        if self._batch.rows >= self.batch_rows:
            self.flush()

    def move_cursor(self, cursor: Cursor) -> None:
        """Move the cursor once the rows added so far are stored."""
        self._batch.cursors.append(cursor)

    def flush(self) -> None:
        batch, self._batch = self._batch, Batch()
        if not batch.rows and not batch.cursors:
            return
        if not self._pools:
            self.on_done(apply_batch(batch))
            return
        # COPY text is built here, on the reading thread, while the writers are busy.
        recipients = _recipients_copy(batch.recipients.values())
        activities = _activities_copy(batch.activities)
        self._finish(self.depth - 1)
        self._pending.append((
            self._pools[0].submit(self._in_context, store_recipients, recipients),
            self._pools[1].submit(self._in_context, store_activities, activities),
            batch.cursors))

    def _in_context(self, store, copy_text: str) -> dict[str, int]:
        with self._app.app_context():
            counts = store(copy_text=copy_text)
            db.session.commit()
            return counts

    def _finish(self, keep: int) -> None:
        """Report the batches done, waiting until at most ``keep`` are pending."""
        while self._pending and (len(self._pending) > keep or all(
                f.done() for f in self._pending[0][:2])):
            recipients, activities, cursors = self._pending.popleft()
            counts = recipients.result() | activities.result()
            if cursors:
                move_cursors(cursors)
                db.session.commit()
            self.on_done(counts)

    def close(self) -> None:
        """Store what is left and wait for every batch; the first failure is raised."""
        try:
            self.flush()
            self._finish(0)
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Let submitted batches finish, unreported (the caller is failing anyway)."""
        for pool in self._pools:
            pool.shutdown(wait=True)
        self._pending.clear()


def apply_batch(batch: Batch) -> dict[str, int]:
    """Store a whole batch and move its cursors in one transaction; commits."""
    counts = store_recipients(rows=list(batch.recipients.values()))
    counts |= store_activities(rows=batch.activities)
    move_cursors(batch.cursors)
    db.session.commit()
    return counts


def store_recipients(rows: Sequence[tuple] = (), copy_text: str | None = None) -> dict[str, int]:
    """Upsert recipients and move first-seen ones' list items; rows or COPY text."""
    now = utcnow()
    _stage(STAGED_RECIPIENTS, rows, copy_text)
    _stage(FIRST_CONTACTS, ())
    db.session.execute(_find_first_contacts(now))
    db.session.execute(_upsert_recipients())
    return {"recipients": _record_first_contacts()}


def store_activities(rows: Sequence[tuple] = (), copy_text: str | None = None) -> dict[str, int]:
    """Insert the activities not stored yet; rows or COPY text."""
    _stage(STAGED_ACTIVITIES, rows, copy_text)
    # INSERT's rowcount is kept only when asked for (psycopg forgets it on closing).
    stored = db.session.execute(_insert_activities(utcnow()).execution_options(
        preserve_rowcount=True)).rowcount
    return {"activities": stored}


def move_cursors(cursors: list[Cursor]) -> None:
    for cursor in cursors:
        db.session.execute(update(DotdigitalCampaign).where(
            DotdigitalCampaign.id == cursor.campaign_id).values({cursor.field: cursor.value}))


# -- staging -----------------------------------------------------------------------------
def _postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def _stage(table: Table, rows: Sequence[tuple], copy_text: str | None = None) -> None:
    """Fill the staging table with these rows (or COPY text) only.

    Temporary tables live as long as the pooled connection, across transactions.
    """
    connection = db.session.connection()
    connection.execute(CreateTable(table, if_not_exists=True))
    if not _postgresql():
        connection.execute(delete(table))
        names = [c.name for c in table.columns]
        if rows:
            connection.execute(insert(table), [dict(zip(names, row, strict=True))
                                               for row in rows])
        return
    # Not DELETE: autovacuum never visits temporary tables; dead rows would pile up.
    connection.exec_driver_sql(f"TRUNCATE {table.name}")
    copy_text = _copy_text(rows) if copy_text is None else copy_text
    if copy_text:
        columns = ", ".join(c.name for c in table.columns)
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(
                f"COPY {table.name} ({columns}) FROM STDIN") as copy:
            copy.write(copy_text)


NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(rows: Iterable[tuple]) -> str:
    """Rows in COPY's text format: ``\\N`` for NULL, backslash escapes, ISO timestamps."""
    stamp = _stamper()

    def text(value) -> str:
        if isinstance(value, str):
            return value.translate(_ESCAPES)
        if value is None or isinstance(value, datetime):
            return stamp(value)
        return str(int(value))

    return "".join("\t".join([text(value) for value in row]) + "\n" for row in rows)


# The two tables a million rows go through get their columns spelled out: several times
# faster than _copy_text, and they are built on the reading thread, the busiest one.
def _recipients_copy(rows: Iterable[tuple]) -> str:
    """STAGED_RECIPIENTS rows as COPY text (only the email and the date may need care)."""
    stamp, escapes = _stamper(), _ESCAPES
    return "".join([
        f"{campaign}\t{mlist}\t{entity.translate(escapes)}\t{entity_id}\t"
        f"{email.translate(escapes)}\t{stamp(sent)}\t{opens}\t{clicks}\t{bounces}\t{unsubs}\n"
        for campaign, mlist, entity, entity_id, email, sent, opens, clicks, bounces, unsubs
        in rows])


def _activities_copy(rows: Iterable[tuple]) -> str:
    """STAGED_ACTIVITIES rows as COPY text (a campaign's marketing campaign may be gone)."""
    stamp, escapes = _stamper(), _ESCAPES
    return "".join([
        f"{type_}\t{NULL if campaign is None else campaign}\t{email_campaign}\t"
        f"{entity.translate(escapes)}\t{entity_id}\t{stamp(at)}\t{details.translate(escapes)}"
        f"\t{key}\n"
        for type_, campaign, email_campaign, entity, entity_id, at, details, key in rows])


def _stamper() -> Callable[[datetime | None], str]:
    """Timestamps as COPY text, each distinct one formatted once (a campaign has few)."""
    stamps: dict[datetime | None, str] = {None: NULL}

    def stamp(value: datetime | None) -> str:
        text = stamps.get(value)
        if text is None:
            text = stamps[value] = value.isoformat()
        return text

    return stamp


def _insert():
    if _postgresql():
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


# -- statements --------------------------------------------------------------------------
def _find_first_contacts(now: datetime):
    """Recipients not stored yet, per list item: how many campaigns, the latest send."""
    staged = STAGED_RECIPIENTS.c
    stored = exists().where(R.c.email_campaign_id == staged.email_campaign_id,
                            R.c.entity_id == staged.entity_id)
    rows = select(staged.marketing_list_id, staged.entity_id, func.count(),
                  func.max(func.coalesce(staged.sent_at, literal(now, UTCDateTime())))
                  ).where(~stored).group_by(staged.marketing_list_id, staged.entity_id)
    return insert(FIRST_CONTACTS).from_select(
        ["marketing_list_id", "entity_id", "times", "contacted_at"], rows)


def _upsert_recipients():
    staged = STAGED_RECIPIENTS.c
    rows = select(
        staged.email_campaign_id, staged.entity_type, staged.entity_id, staged.email,
        literal(RecipientStatus.SENT.value, String()), staged.sent_at, true(),
        staged.open_count, staged.click_count, staged.bounce_count, literal(0, Integer()),
        staged.unsubscribe_count,
    # A WHERE clause keeps SQLite from reading ON CONFLICT as a join constraint.
    ).where(staged.entity_id.is_not(None))
    statement = _insert()(R).from_select(
        ["email_campaign_id", "entity_type", "entity_id", "email", "status", "sent_at",
         "contact_recorded", "open_count", "click_count", "bounce_count", "abuse_count",
         "unsubscribe_count"], rows)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["email_campaign_id", "entity_id"],
        set_={name: excluded[name] for name in RECIPIENT_COUNTS},
        where=or_(*(R.c[name].is_distinct_from(excluded[name]) for name in RECIPIENT_COUNTS)))


def _insert_activities(now: datetime):
    staged = STAGED_ACTIVITIES.c
    rows = select(
        staged.type, staged.campaign_id, staged.email_campaign_id, staged.entity_type,
        staged.entity_id, staged.details, staged.action_date, staged.event_key,
        literal(now, UTCDateTime()),
    ).where(staged.event_key.is_not(None))
    return _insert()(ACTIVITIES).from_select(
        ["type", "campaign_id", "email_campaign_id", "entity_type", "entity_id", "details",
         "action_date", "event_key", "created_at"], rows,
    ).on_conflict_do_nothing(index_elements=["event_key"])


def _record_first_contacts() -> int:
    """Move Total contacted and Last contacted at; the number of first-seen recipients."""
    first = FIRST_CONTACTS.c
    db.session.execute(update(ITEMS).where(
        ITEMS.c.marketing_list_id == first.marketing_list_id,
        ITEMS.c.entity_id == first.entity_id).values(
        contacted_times=ITEMS.c.contacted_times + first.times,
        last_contacted_at=first.contacted_at))
    latest = select(first.marketing_list_id, func.max(first.contacted_at).label("at")).group_by(
        first.marketing_list_id).subquery()
    db.session.execute(update(LISTS).where(LISTS.c.id == latest.c.marketing_list_id).values(
        last_used_at=latest.c.at))
    return db.session.scalar(select(func.coalesce(func.sum(first.times), 0)))
