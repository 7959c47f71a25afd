"""Two-way sync of one marketing list with one static segment of a Mailchimp audience.

Order of a run (one per connection at a time, enforced by the JobRun target):

1. **import** the audience's members changed since the cursor (``since_last_changed``, not
   the opt-in time Oro used, which missed status changes of older members): unsubscribed
   and cleaned members become unsubscribed in the list, always and first;
2. **resubscribe** (Two Way Sync only) list members unsubscribed remotely whom someone
   subscribed again here: Local Wins re-subscribes them in Mailchimp (which refuses people
   who unsubscribed themselves: they become unsubscribed here again), Remote Wins
   unsubscribes them here again;
3. **export** in the reference's order, only what changed (services.sync.plan): add new
   or changed members (batch subscribe of 500 with ``status_if_new``, so an existing
   member's status is never overwritten, then ``members_to_add`` of 500), remove members
   who left the list from the segment, unsubscribe (segment, then audience) members
   unsubscribed here, and delete (segment, then archive) members removed here.

Subscription status, both ways:

- Mailchimp → here: an opt-out (unsubscribed, cleaned) always unsubscribes the member here.
  A re-subscription in Mailchimp (opted out → subscribed) reaches the list only with Two
  Way Sync and Remote Wins; with Local Wins the list's "unsubscribed" stands and is sent
  back; without Two Way Sync nothing flows.
- here → Mailchimp: unsubscribing or removing a member unsubscribes or archives them in the
  audience (as Oro does, audience-wide); a re-subscription here needs Two Way Sync and
  Local Wins.

Sync state is written only after Mailchimp confirmed (the subscribe *and* the segment
edit). A crash re-sends at worst a batch Mailchimp treats as an upsert by email, so nothing
is lost and nothing duplicated, and a list with no changes costs zero write calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from datetime import datetime
from datetime import timedelta

from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from extensions import db
from integrations.http import ApiError
from integrations.http import NotFoundError
from integrations.http import ValidationError
from integrations.mailchimp import audiences
from integrations.mailchimp import batches
from integrations.mailchimp.client import BATCH_LIMIT
from integrations.mailchimp.client import MailchimpClient
from models.base import utcnow
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import SyncState
from models.integrations import SyncStatus
from models.mailchimp import MailchimpRejection
from services import records
from services.marketing_lists import sending
from services.sync import plan
from services.sync.runs import RunTracker
from services.table_statistics import GrowthAnalyzer

STATE = SyncState.__table__
OPTED_OUT = frozenset({"Unsubscribed", "Cleaned"})
MAILABLE = frozenset(plan.MAILABLE)
# Re-read a little before the cursor: clocks differ, and re-applying a status is harmless.
IMPORT_MARGIN = timedelta(minutes=2)
PLAN_BATCH = 2000
CHUNK = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class SyncError(RuntimeError):
    """The run cannot proceed; the message is for users."""


def client_for(integration: Integration, **kwargs) -> MailchimpClient:
    return MailchimpClient.for_integration(integration, **kwargs)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def two_way(integration: Integration) -> tuple[bool, str]:
    settings = integration.settings or {}
    return bool(settings.get("two_way_sync")), settings.get("sync_priority") or "remote"


def _text(value) -> str:
    """A merge value as text, defensive about types and characters (Oro's sync failures)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _CONTROL.sub(" ", str(value)).strip()[:255]


class MergeColumns:
    """FNAME, LNAME and one extended merge field (``E_…``, ≤ 10 characters) per list column."""

    def __init__(self, mlist, record_type: records.RecordType):
        self.columns: list[tuple[str, str, str]] = []  # (tag, field key, label)
        for tag, key in (("FNAME", "first_name"), ("LNAME", "last_name")):
            if key in record_type.fields:
                self.columns.append((tag, key, record_type.fields[key].label))
        skip = {record_type.email_field, "first_name", "last_name"}
        used = {tag for tag, _, _ in self.columns}
        for column in mlist.columns or []:
            key = column.get("field") if isinstance(column, dict) else None
            if key not in record_type.fields or key in skip:
                continue
            skip.add(key)
            base = "E_" + re.sub(r"[^A-Z0-9]", "", key.upper())[:8]
            tag, n = base, 1
            while tag in used:
                n += 1
                tag = f"{base[:10 - len(str(n))]}{n}"
            used.add(tag)
            self.columns.append((tag, key, str(column.get("label") or
                                               record_type.fields[key].label)[:50]))
        self.dropped: set[str] = set()

    def ensure(self, client: MailchimpClient, audience: str, tracker: RunTracker) -> int:
        """Create the merge fields the audience lacks; a refused one is left out of values."""
        existing = {f.get("tag") for f in client.merge_fields(audience)}
        created = 0
        for tag, _key, label in self.columns:
            if tag in existing:
                continue
            try:
                client.create_merge_field(audience, tag, label)
                created += 1
            except ValidationError as exc:
                self.dropped.add(tag)
                tracker.error(f"merge field {tag} ({label}) could not be created: {exc.message}")
        return created

    def values_for(self, recipients: list[sending.Recipient]) -> list[dict[str, str]]:
        active = [(tag, key) for tag, key, _ in self.columns if tag not in self.dropped]
        return [{tag: _text(r.fields.get(key)) for tag, key in active} for r in recipients]


class ListSync:
    def __init__(self, connection: ListConnection, client: MailchimpClient,
                 tracker: RunTracker | None = None):
        self.connection = connection
        # Read once: after each commit the attribute would be reloaded with a SELECT.
        self.connection_id = connection.id
        self.integration = connection.integration
        self.client = client
        self.tracker = tracker or RunTracker(None, client)
        self.tracker.client = client
        self.list_id = connection.marketing_list_id
        self.mlist = connection.marketing_list
        self.entity = self.mlist.entity
        self.record_type = records.get(self.entity)
        self.two_way, self.priority = two_way(self.integration)
        self.columns = MergeColumns(self.mlist, self.record_type)
        self.rejected = 0
        # Whether confirmed rows may have a rejection to clear (skips a DELETE per batch).
        self.had_rejections = True
        self.statistics = GrowthAnalyzer(STATE.name)

    @property
    def audience(self) -> str:
        return audiences.split(self.connection)[0]

    @property
    def segment(self) -> str:
        return audiences.split(self.connection)[1]

    # -- the run ----------------------------------------------------------------------
    def run(self) -> dict[str, int]:
        started = utcnow()
        connection = self.connection
        if connection.sync_status is SyncStatus.REMOTE_MISSING:
            raise SyncError(connection.sync_message or "The Mailchimp audience no longer exists.")
        connection.sync_status = SyncStatus.IN_PROGRESS
        db.session.commit()
        try:
            self.tracker.phase("Importing members")
            self.import_members()
            connection.import_cursor = started
            db.session.commit()
            for attempt in (1, 2):
                try:
                    self.export()
                    break
                except NotFoundError:
                    # The segment was deleted in Mailchimp: make it again and start over.
                    if attempt == 2 or not self._segment_gone():
                        raise
                    audiences.forget_segment(connection)
                    db.session.commit()
                    self.tracker.error(f'segment "{connection.remote_name}" was deleted in '
                                       "Mailchimp and has been created again")
            connection.export_cursor = started
        except ApiError as exc:
            db.session.rollback()
            connection.sync_status = SyncStatus.FAILED
            connection.sync_message = f"Mailchimp: {exc}"
            db.session.commit()
            raise
        except audiences.ConnectError as exc:
            db.session.rollback()
            connection.sync_status = SyncStatus.FAILED
            connection.sync_message = str(exc)
            db.session.commit()
            raise SyncError(str(exc)) from exc
        connection.sync_status = SyncStatus.UP_TO_DATE
        connection.last_synced_at = utcnow()
        connection.sync_message = "; ".join(self.tracker.errors[-5:]) or None
        db.session.commit()
        self.tracker.flush()
        return self.tracker.counts

    def _segment_gone(self) -> bool:
        segment = self.segment
        try:
            ids = {str(s["id"]) for s in self.client.segments(self.audience)}
        except NotFoundError:
            audiences.mark_missing(self.connection, "The Mailchimp audience was deleted. "
                                   "Connect the list to another audience in Connection "
                                   "Settings.")
            db.session.commit()
            raise SyncError(self.connection.sync_message) from None
        return bool(segment) and segment not in ids

    # -- import: audience → list ------------------------------------------------------
    def import_members(self) -> None:
        cursor = self.connection.import_cursor
        since = iso(cursor - IMPORT_MARGIN) if cursor else None
        chunk: dict[str, tuple[str, str]] = {}
        read = 0
        for member in self.client.members_changed_since(self.audience, since):
            email, state = batches.member_state(member)
            if email:
                chunk[email] = state
            read += 1
            if len(chunk) >= CHUNK:
                self._import_chunk(chunk)
                chunk = {}
        if chunk:
            self._import_chunk(chunk)
        self.tracker.add(members_read=read)

    def _import_chunk(self, remote: dict[str, tuple[str, str]]) -> None:
        states = db.session.execute(select(
            STATE.c.id, STATE.c.entity_id, STATE.c.email, STATE.c.remote_status).where(
            STATE.c.connection_id == self.connection_id,
            STATE.c.email.in_(list(remote)))).all()
        known: dict[str, set] = {}
        for state in states:
            known.setdefault(state.email, set()).add(state.remote_status)
        # Only transitions: re-reading an opt-out already applied (the cursor's margin)
        # must not undo a re-subscription made here since.
        opt_outs = {e: s for e, (s, _) in remote.items()
                    if s in OPTED_OUT and known.get(e, {None}) != {s}}
        if opt_outs:
            self.apply_opt_outs(opt_outs)
        resubscribed = [s for s in states if remote[s.email][0] in MAILABLE
                        and s.remote_status in OPTED_OUT]
        if resubscribed and self.two_way:
            # Put back in the segment by the export: it may have been taken out of it.
            db.session.execute(update(SyncState).where(
                SyncState.id.in_([s.id for s in resubscribed])).values(
                remote_status="Subscribed", fields_hash=None, needs_export=True))
            db.session.commit()
            if self.priority == "remote":
                for s in resubscribed:
                    sending.subscribe(self.list_id, s.entity_id)
                self.tracker.add(resubscribed_here=len(resubscribed))
        db.session.commit()

    def apply_opt_outs(self, statuses: dict[str, str]) -> int:
        """Members with these emails become unsubscribed here and are never exported again."""
        emails = list(statuses)
        for status in set(statuses.values()):
            db.session.execute(update(SyncState).where(
                SyncState.connection_id == self.connection_id,
                SyncState.email.in_([e for e, s in statuses.items() if s == status]))
                .values(remote_status=status, needs_export=False))
        email_col = self.record_type.email_column
        members = db.session.execute(
            sending.sending_set_query(self.list_id).with_only_columns(
                sending.ITEMS.c.entity_id, email_col.label("email"))
            .where(email_col.in_(emails))).all()
        known = set(db.session.scalars(select(SyncState.entity_id).where(
            SyncState.connection_id == self.connection_id,
            SyncState.entity_id.in_([m.entity_id for m in members]))))
        rows = [{"connection_id": self.connection_id, "entity_id": m.entity_id,
                 "email": (m.email or "").strip().lower(),
                 "remote_status": statuses.get((m.email or "").strip().lower(), "Unsubscribed"),
                 "needs_export": False, "updated_at": utcnow()}
                for m in members if m.entity_id not in known]
        if rows:
            db.session.execute(insert(SyncState), rows)
        db.session.commit()
        for member in members:
            sending.unsubscribe(self.list_id, member.entity_id)
        self.tracker.add(unsubscribed_here=len(members))
        return len(members)

    # -- export: list → segment -------------------------------------------------------
    def export(self) -> None:
        self.tracker.phase("Checking merge fields")
        created = self.columns.ensure(self.client, self.audience, self.tracker)
        if created:
            self.tracker.add(merge_fields_created=created)
        audiences.ensure_segment(self.client, self.connection)
        if self.two_way:
            self.tracker.phase("Re-subscribing")
            self.resubscribe()
        self.tracker.phase("Adding new members")
        self.add()
        removals = plan.removals(self.connection)
        if removals:
            self.tracker.phase("Removing from the segment")
            self.remove(removals)

    def _subscribe(self, members: list[dict]) -> tuple[dict[str, tuple[str, str]],
                                                         dict[str, str]]:
        """Batch subscribe; ({email: (status word, id)}, {email: error}) from the answer."""
        answer = self.client.batch_subscribe(self.audience, members)
        self.tracker.add(subscribe_calls=1)
        return batches.subscribe_outcome(answer)

    def _segment_edit(self, add: list[str] | None = None,
                      remove: list[str] | None = None) -> set[str]:
        """Edit the segment; returns the emails Mailchimp said are not audience members."""
        answer = self.client.edit_segment(self.audience, self.segment, add=add, remove=remove)
        self.tracker.add(segment_calls=1)
        return batches.not_members(answer)

    def add(self) -> None:
        summary = plan.PlanSummary()
        cleared: list[int] = []
        groups: dict[str, list[plan.ExportRow]] = {}
        audience, segment = audiences.split(self.connection)
        self.had_rejections = db.session.scalar(select(exists().where(
            MailchimpRejection.connection_id == self.connection_id)))
        with batches.Window(self.client, audience, segment, self.record) as window:
            for rows in plan.iter_export(self.connection, self.columns.values_for, self.entity,
                                         batch_size=PLAN_BATCH, summary=summary,
                                         cleared=cleared):
                for row in rows:
                    groups.setdefault(row.email, []).append(row)
                    if len(groups) >= BATCH_LIMIT:
                        window.submit(self.prepare(groups))
                        groups = {}
            if groups:
                window.submit(self.prepare(groups))
        for start in range(0, len(cleared), CHUNK):
            db.session.execute(update(SyncState).where(
                SyncState.id.in_(cleared[start:start + CHUNK])).values(needs_export=False))
        db.session.commit()
        self.tracker.add(added=summary.added, updated=summary.updated)

    def prepare(self, groups: dict[str, list[plan.ExportRow]]) -> batches.Batch:
        """A batch ready to send: its known rows flagged until Mailchimp confirms them."""
        rows = [r for group in groups.values() for r in group]
        existing = [r.state_id for r in rows if r.state_id is not None]
        if existing:
            # Until confirmed these rows must be re-planned even if the cursor moves on.
            db.session.execute(update(SyncState).where(SyncState.id.in_(existing))
                               .values(needs_export=True))
            db.session.commit()
        old = [r.state_id for r in rows if r.old_remote_id and r.state_id is not None]
        old_emails = list(db.session.scalars(select(SyncState.email).where(
            SyncState.id.in_(old)))) if old else []
        return batches.Batch(groups, old_emails)

    def record(self, batch: batches.Batch) -> None:
        """What Mailchimp confirmed for one batch (subscribe and segment add) becomes state."""
        groups, statuses = batch.groups, batch.statuses
        self.tracker.add(subscribe_calls=batch.subscribe_calls,
                         segment_calls=batch.segment_calls)
        now = utcnow()
        confirmed, opted_out, other = [], {}, []
        for email, (status, _) in statuses.items():
            if status in MAILABLE:
                if email not in batch.not_members:  # else unconfirmed: planned again next run
                    confirmed.append(email)
            elif status in OPTED_OUT:
                opted_out[email] = status
            else:
                other.append(email)  # e.g. transactional: remembered, not mailed
        written = self._write_states(groups, statuses, confirmed + other + list(opted_out),
                                     now)
        if opted_out:
            self.apply_opt_outs(opted_out)
        if batch.errors:
            self._reject(groups, batch.errors, now)
        if confirmed and self.had_rejections:
            db.session.execute(delete(MailchimpRejection).where(
                MailchimpRejection.connection_id == self.connection_id,
                MailchimpRejection.entity_id.in_([r.entity_id for e in confirmed
                                                  for r in groups.get(e, [])])))
        db.session.commit()
        done = self.tracker.counts.get("exported", 0) + len(confirmed)
        self.tracker.add(exported=len(confirmed))
        self.tracker.progress(done)
        self.statistics.wrote(written)

    def _write_states(self, groups, statuses, emails: Iterable[str], now) -> int:
        """Confirmed rows become state; returns how many new state rows were written."""
        updates, inserts = [], []
        connection_id = self.connection_id
        for email in emails:
            status, remote_id = statuses[email]
            for row in groups.get(email, []):
                values = {"fields_hash": row.hash, "remote_id": remote_id or None,
                          "remote_status": status, "email": email}
                if row.state_id is None:
                    inserts.append({"connection_id": connection_id,
                                    "entity_id": row.entity_id, "needs_export": False,
                                    "updated_at": now, **values})
                else:
                    updates.append({"sid": row.state_id, "h": row.hash, "rid": remote_id or None,
                                    "rs": status, "em": email})
        if updates:
            db.session.execute(update(STATE).where(STATE.c.id == bindparam("sid")).values(
                fields_hash=bindparam("h"), remote_id=bindparam("rid"),
                remote_status=bindparam("rs"), email=bindparam("em"), needs_export=False,
                updated_at=now), updates)
        if inserts:
            # Core executemany: the ORM's bulk insert costs more per row than the database.
            db.session.execute(STATE.insert(), inserts)
        return len(inserts)

    def _reject(self, groups, errors: dict[str, str], now) -> None:
        """Refused emails: noted on the list, and not sent again until the record changes."""
        for email, reason in errors.items():
            for row in groups.get(email, []):
                if row.state_id is None:
                    db.session.execute(insert(SyncState).values(
                        connection_id=self.connection_id, entity_id=row.entity_id, email=email,
                        fields_hash=row.hash, remote_status=None, needs_export=False,
                        updated_at=now))
                else:
                    db.session.execute(update(SyncState).where(SyncState.id == row.state_id)
                                       .values(fields_hash=row.hash, needs_export=False,
                                               email=email))
                db.session.execute(delete(MailchimpRejection).where(
                    MailchimpRejection.connection_id == self.connection_id,
                    MailchimpRejection.email == email))
                db.session.add(MailchimpRejection(connection_id=self.connection_id,
                                                  entity_id=row.entity_id, email=email,
                                                  reason=reason[:2000], rejected_at=now))
            self.rejected += 1
            self.had_rejections = True
            self.tracker.error(f"{email}: {reason}")
        self.tracker.add(rejected=len(errors))

    def remove(self, removals: list[plan.Removal]) -> None:
        """The reference's order: leave the segment, then unsubscribe, then delete."""
        reasons = sending.exit_reasons(self.list_id, [r.entity_id for r in removals])
        leaving = {r.state_id for r in removals}
        # An email another member still holds stays in the segment: only the row goes.
        kept: set[str] = set()
        emails = sorted({r.email for r in removals})
        for start in range(0, len(emails), CHUNK):
            for state_id, email in db.session.execute(select(SyncState.id, SyncState.email)
                                                      .where(
                    SyncState.connection_id == self.connection_id,
                    SyncState.email.in_(emails[start:start + CHUNK]),
                    SyncState.remote_status.in_(MAILABLE))):
                if state_id not in leaving:
                    kept.add(email)
        for reason in ("left", "unsubscribed", "removed"):
            batch = [r for r in removals if reasons.get(r.entity_id) == reason]
            for start in range(0, len(batch), BATCH_LIMIT):
                self._remove_chunk(reason, batch[start:start + BATCH_LIMIT], kept)

    def _remove_chunk(self, reason: str, chunk: list[plan.Removal], kept: set[str]) -> None:
        emails = sorted({r.email for r in chunk if r.email not in kept})
        if emails:
            self._segment_edit(remove=emails)
        ids = [r.state_id for r in chunk]
        if reason == "unsubscribed" and emails:
            _, errors = self._subscribe([{"email_address": e, "status": "unsubscribed"}
                                                for e in emails])
            for email, error in errors.items():
                self.tracker.error(f"{email}: could not be unsubscribed: {error}")
            db.session.execute(update(SyncState).where(SyncState.id.in_(ids)).values(
                remote_status="Unsubscribed", needs_export=False))
            self.tracker.add(unsubscribed_remotely=len(emails))
        elif reason == "removed":
            for email in emails:
                try:
                    self.client.archive_member(self.audience, email)
                except (NotFoundError, ApiError) as exc:
                    # 404 gone already, 405 cleaned or pending: nothing left to delete.
                    if exc.status not in (404, 405):
                        raise
            db.session.execute(delete(SyncState).where(SyncState.id.in_(ids)))
            self.tracker.add(deleted_remotely=len(emails))
        else:
            if reason == "unsubscribed":
                db.session.execute(update(SyncState).where(SyncState.id.in_(ids)).values(
                    remote_status="Unsubscribed", needs_export=False))
            else:
                db.session.execute(delete(SyncState).where(SyncState.id.in_(ids)))
            self.tracker.add(removed=len(chunk))
        db.session.commit()

    def resubscribe(self) -> None:
        """Two Way Sync: list members subscribed here but unsubscribed in Mailchimp."""
        sending_q = sending.sending_set_query(self.list_id).order_by(None).subquery()
        rows = db.session.execute(select(STATE.c.id, STATE.c.entity_id, STATE.c.email).where(
            STATE.c.connection_id == self.connection_id,
            STATE.c.remote_status == "Unsubscribed",
            STATE.c.entity_id.in_(select(sending_q.c.entity_id)))).all()
        if not rows:
            return
        if self.priority != "local":
            for row in rows:
                sending.unsubscribe(self.list_id, row.entity_id)
            self.tracker.add(unsubscribed_here=len(rows))
            return
        by_email: dict[str, list] = {}
        for row in rows:
            by_email.setdefault(row.email, []).append(row)
        emails = list(by_email)
        for start in range(0, len(emails), BATCH_LIMIT):
            chunk = emails[start:start + BATCH_LIMIT]
            statuses, errors = self._subscribe([{"email_address": e, "status": "subscribed"}
                                                for e in chunk])
            back = [e for e, (s, _) in statuses.items() if s in MAILABLE]
            ids = [r.id for e in back for r in by_email.get(e, [])]
            if ids:
                # The add step right after puts them back in the segment with their values.
                db.session.execute(update(SyncState).where(SyncState.id.in_(ids)).values(
                    remote_status="Subscribed", fields_hash=None, needs_export=True))
            db.session.commit()
            for email, error in errors.items():
                self.tracker.error(f"{email} cannot be re-subscribed by the API: {error}")
                for row in by_email.get(email, []):
                    sending.unsubscribe(self.list_id, row.entity_id)
            self.tracker.add(resubscribed_remotely=len(back))


def list_problems(connection: ListConnection) -> list[MailchimpRejection]:
    return list(db.session.scalars(select(MailchimpRejection).where(
        MailchimpRejection.connection_id == connection.id)
        .order_by(MailchimpRejection.rejected_at.desc()).limit(50)))
