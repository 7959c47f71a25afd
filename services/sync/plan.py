"""The export plan of one list connection: who to add, update and remove remotely.

The candidates come from SQL, never from loading the list into Python:

- **new**: in the list's sending set, with no sync-state row;
- **maybe changed**: a sync-state row flagged ``needs_export``, or a record updated since
  the export cursor (the start of the last successful export, minus a small margin
  for clock skew); only these are hashed, and only those whose hash differs are sent;
- **removed**: a sync-state row the remote side holds as mailable whose record left the
  sending set.

A list with no changes therefore costs a few indexed queries and zero write calls.
Rows held remotely as unsubscribed or suppressed are never candidates: nobody who opted
out is exported as subscribed again. Rows in a bulk write still in flight are left out
until that write settles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import true

from extensions import db
from models.integrations import ListConnection
from models.integrations import SyncState
from services.marketing_lists.sending import ITEMS
from services.marketing_lists.sending import Recipient
from services.marketing_lists.sending import sending_set_query

STATE = SyncState.__table__
# Remote statuses that still receive mail; any other one is an opt-out to respect.
MAILABLE = ("Subscribed", "SoftBounced", "PendingOptIn")
# Allowance for clock skew between the hosts that write updated_at; the hash comparison
# makes re-checking a few extra rows harmless.
CURSOR_MARGIN = timedelta(seconds=10)

ValuesFor = Callable[[list[Recipient]], list[dict[str, str]]]


def fields_hash(email: str, values: dict[str, str]) -> str:
    payload = json.dumps([email, sorted(values.items())], separators=(",", ":"), default=str)
    return hashlib.sha1(payload.encode(), usedforsecurity=False).hexdigest()


@dataclass
class ExportRow:
    entity_id: int
    email: str
    values: dict[str, str]
    hash: str
    state_id: int | None = None
    remote_id: str | None = None
    # Set when the record's email changed: the old remote contact leaves the remote list.
    old_remote_id: str | None = None

    @property
    def is_new(self) -> bool:
        return self.state_id is None


@dataclass
class Removal:
    state_id: int
    entity_id: int
    email: str
    remote_id: str | None


@dataclass
class PlanSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    samples: dict[str, list[str]] = field(default_factory=lambda: {
        "added": [], "updated": [], "removed": []})

    def sample(self, kind: str, email: str, limit: int = 5) -> None:
        if len(self.samples[kind]) < limit:
            self.samples[kind].append(email)


def _candidates(connection: ListConnection):
    """SELECT of the sending-set rows that may need exporting, with their state."""
    sending = sending_set_query(connection.marketing_list_id).order_by(None).subquery()
    join = and_(STATE.c.connection_id == connection.id,
                STATE.c.entity_id == sending.c.entity_id)
    if connection.export_cursor is None or "f_updated_at" not in sending.c:
        changed = true()  # no cursor yet: every member is a candidate
    else:
        changed = or_(STATE.c.id.is_(None), STATE.c.needs_export.is_(True),
                      sending.c.f_updated_at >= connection.export_cursor - CURSOR_MARGIN)
    query = (select(sending, STATE.c.id.label("state_id"), STATE.c.fields_hash.label("s_hash"),
                    STATE.c.remote_id.label("s_remote_id"), STATE.c.email.label("s_email"),
                    STATE.c.needs_export.label("s_needs_export"))
             .select_from(sending.outerjoin(STATE, join))
             .where(changed)
             .where(or_(STATE.c.id.is_(None), and_(
                 STATE.c.pending_import_id.is_(None),
                 or_(STATE.c.remote_status.is_(None), STATE.c.remote_status.in_(MAILABLE))))))
    return query, sending


def iter_export(connection: ListConnection, values_for: ValuesFor, entity: str,
                batch_size: int = 2000, summary: PlanSummary | None = None,
                cleared: list[int] | None = None) -> Iterator[list[ExportRow]]:
    """Batches of rows to add or update; unchanged flagged rows go to ``cleared``."""
    query, sending = _candidates(connection)
    last = 0
    summary = summary if summary is not None else PlanSummary()
    while True:
        rows = db.session.execute(query.where(sending.c.entity_id > last)
                                  .order_by(sending.c.entity_id).limit(batch_size)).all()
        if not rows:
            return
        last = rows[-1].entity_id
        # Field positions once per page rather than a mapping walk per row: this loop
        # runs for every member of a first export.
        fields = [(name[2:], i) for i, name in enumerate(rows[0]._fields)
                  if name.startswith("f_")]
        recipients = [Recipient(entity, r.entity_id, (r.email or "").strip().lower(),
                                {key: r[i] for key, i in fields})
                      for r in rows]
        values = values_for(recipients)
        batch = []
        for row, recipient, vals in zip(rows, recipients, values, strict=True):
            digest = fields_hash(recipient.email, vals)
            if row.state_id is not None and row.s_hash == digest:
                summary.unchanged += 1
                if row.s_needs_export and cleared is not None:
                    cleared.append(row.state_id)
                continue
            export = ExportRow(recipient.entity_id, recipient.email, vals, digest,
                               row.state_id, row.s_remote_id)
            if row.state_id is not None and row.s_email and row.s_email != recipient.email:
                export.old_remote_id = row.s_remote_id
                export.remote_id = None
            if export.is_new:
                summary.added += 1
                summary.sample("added", export.email)
            else:
                summary.updated += 1
                summary.sample("updated", export.email)
            batch.append(export)
        if batch:
            yield batch
        if len(rows) < batch_size:
            return


def removals(connection: ListConnection, summary: PlanSummary | None = None) -> list[Removal]:
    """State rows whose record left the sending set.

    Rows the remote side holds as opted out stay: they remember the opt-out.
    """
    # Only the ids: the sending set's field columns would be computed for nothing.
    members = sending_set_query(connection.marketing_list_id).order_by(None) \
        .with_only_columns(ITEMS.c.entity_id).subquery()
    rows = db.session.execute(
        select(STATE.c.id, STATE.c.entity_id, STATE.c.email, STATE.c.remote_id)
        .where(STATE.c.connection_id == connection.id,
               STATE.c.pending_import_id.is_(None),
               or_(STATE.c.remote_status.is_(None), STATE.c.remote_status.in_(MAILABLE)),
               ~exists().where(members.c.entity_id == STATE.c.entity_id))
        .order_by(STATE.c.id)).all()
    result = [Removal(r.id, r.entity_id, r.email, r.remote_id) for r in rows]
    if summary is not None:
        summary.removed = len(result)
        for removal in result[:5]:
            summary.sample("removed", removal.email)
    return result


def preview(connection: ListConnection, values_for: ValuesFor, entity: str) -> PlanSummary:
    """The dry run: how many would be added, updated and removed, with samples."""
    summary = PlanSummary()
    for _batch in iter_export(connection, values_for, entity, summary=summary):
        pass
    removals(connection, summary)
    return summary
