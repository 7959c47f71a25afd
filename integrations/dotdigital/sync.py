"""Two-way sync of one marketing list with one Dotdigital address book.

Order of a run (one per list at a time, enforced by the JobRun target):

1. settle the bulk imports earlier runs left in flight (status, then the faults report);
2. import, book → list: the book's unsubscribes and the account's suppressions since the
   cursor first (those members become Unsubscribed here and are never exported again),
   then the book's contacts (remote ids, two-way fields, Create New Entities);
3. export, list → book: removals through ``contacts/delete``, then the plan of
   services.sync.plan sent as CSV bulk imports of at most 10,000 rows, polled with backoff.

Sync state is written only after Dotdigital confirmed: a row carries the id of the import
it went out in until that import settles. A crash anywhere re-sends at worst a batch the
remote side treats as an upsert by email, so nothing is lost and nothing duplicated.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from extensions import db
from integrations.dotdigital import books
from integrations.dotdigital import fields as data_fields
from integrations.dotdigital.client import DotdigitalClient
from integrations.http import ApiError
from integrations.http import NotFoundError
from integrations.http import RateLimitError
from integrations.http import ServerError
from models.base import utcnow
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import RemoteImport
from models.integrations import SyncState
from models.integrations import SyncStatus
from models.lists import ListType
from models.lists import MarketingListItem
from services import records
from services.marketing_lists import sending
from services.sync import plan
from services.sync.runs import RunTracker
from services.table_statistics import GrowthAnalyzer

EXPORT_BATCH = 10_000
REMOVE_BATCH = 1_000
CHUNK = 1_000
# An import still NotFinished after this long is given up as Unknown (Oro: 30 polls of
# its 5-minute cron); its rows stay flagged and go out again with the next export.
IMPORT_GIVE_UP = timedelta(hours=3)
MAX_POLL_ERRORS = 10
MAILABLE = set(plan.MAILABLE)
# Faults-report reasons that are opt-outs, as the contact status they stand for.
FAULT_STATUSES = {
    "unsubscribed": "Unsubscribed", "hard bounced": "HardBounced",
    "isp complaint": "IspComplained", "mail blocked": "MailBlocked",
    "domain suppressed": "DomainSuppression", "suppressed": "Suppressed",
    "globally suppressed": "Suppressed", "soft bounced": "SoftBounced",
}
FAILED_IMPORT = {
    "RejectedByWatchdog": SyncStatus.REJECTED,
    "ExceedsAllowedContactLimit": SyncStatus.LIMIT_EXCEEDED,
}
STATE = SyncState.__table__


class SyncError(RuntimeError):
    """The run cannot proceed; the message is for users."""


def client_for(integration: Integration, **kwargs) -> DotdigitalClient:
    return DotdigitalClient.for_integration(integration, **kwargs)


def remember_rate(integration: Integration, client) -> None:
    if client.rate.limit is not None:
        integration.rate_info = client.rate.as_dict()


class ListSync:
    def __init__(self, connection: ListConnection, client: DotdigitalClient,
                 tracker: RunTracker | None = None, poll_budget: float | None = None):
        self.connection = connection
        self.integration = connection.integration
        self.client = client
        self.tracker = tracker or RunTracker(None, client)
        self.tracker.client = client
        self.list_id = connection.marketing_list_id
        self.entity = connection.marketing_list.entity
        self.record_type = records.get(self.entity)
        self.book_id = connection.remote_id
        self.columns = data_fields.ExportColumns(self.integration.id, self.entity)
        self.poll_budget = (current_app.config.get("DOTDIGITAL_POLL_BUDGET", 120)
                            if poll_budget is None else poll_budget)
        self.export_complete = True
        self.statistics = GrowthAnalyzer(STATE.name)

    # -- the run ----------------------------------------------------------------------
    def run(self, mode: str = "full") -> dict[str, int]:
        started = utcnow()
        connection = self.connection
        if connection.sync_status is SyncStatus.REMOTE_MISSING:
            raise SyncError(connection.sync_message or "The address book no longer exists.")
        self.tracker.phase("Connecting")
        try:
            self.client.discover()
            if mode != "status":
                self._check_book()
            self.tracker.phase("Settling earlier imports")
            self.settle_pending(wait=mode == "status")
            if mode != "status":
                self.tracker.phase("Importing unsubscribes")
                self.import_opt_outs()
                self.tracker.phase("Importing contacts")
                self.import_contacts()
                connection.import_cursor = started
                db.session.commit()
                self.export(started)
        except ApiError as exc:
            db.session.rollback()
            connection.sync_message = f"dotdigital: {exc}"
            if not isinstance(exc, RateLimitError | ServerError):
                connection.sync_status = SyncStatus.FAILED
            db.session.commit()
            raise
        finally:
            remember_rate(self.integration, self.client)
            db.session.commit()
        self._roll_up()
        return self.tracker.counts

    def _check_book(self) -> None:
        try:
            self.client.get(f"/v2/address-books/{int(self.book_id)}")
        except NotFoundError:
            books.mark_book_missing(self.connection)
            db.session.commit()
            raise SyncError(self.connection.sync_message) from None

    def _roll_up(self) -> None:
        """The status sentence: from the imports of this export, like Oro's roll-up."""
        connection = self.connection
        pending = db.session.scalar(select(func.count(RemoteImport.id)).where(
            RemoteImport.connection_id == connection.id, RemoteImport.done.is_(False)))
        if pending:
            connection.sync_status = SyncStatus.IN_PROGRESS
        elif connection.sync_status is SyncStatus.IN_PROGRESS:
            connection.sync_status = SyncStatus.UP_TO_DATE if self.export_complete \
                else SyncStatus.FAILED
        if not pending:
            connection.last_synced_at = utcnow()
        if self.tracker.errors:
            connection.sync_message = "; ".join(self.tracker.errors[-5:])
        elif connection.sync_status in (SyncStatus.UP_TO_DATE, SyncStatus.IN_PROGRESS):
            connection.sync_message = None
        db.session.commit()
        self.tracker.flush()

    # -- import: book → list ----------------------------------------------------------
    def import_opt_outs(self) -> None:
        since = self.connection.import_cursor
        self._opt_outs(self.client.book_unsubscribed_since(self.book_id, since))
        # Account-wide suppressions reach every book (Dotdigital's own advice).
        self._opt_outs(self.client.suppressed_since(since))

    def _opt_outs(self, items) -> None:
        chunk: dict[str, str] = {}
        for item in items:
            contact = item.get("suppressedContact") or {}
            email = (contact.get("email") or "").strip().lower()
            if email:
                chunk[email] = item.get("reason") or "Unsubscribed"
            if len(chunk) >= CHUNK:
                self.apply_opt_outs(chunk)
                chunk = {}
        if chunk:
            self.apply_opt_outs(chunk)

    def apply_opt_outs(self, reasons: dict[str, str]) -> int:
        """Members with these emails become Unsubscribed here and are never exported again."""
        reasons = {e: (r if r not in MAILABLE else "Unsubscribed") for e, r in reasons.items()}
        emails = list(reasons)
        for reason in set(reasons.values()):
            db.session.execute(update(SyncState).where(
                SyncState.connection_id == self.connection.id,
                SyncState.email.in_([e for e, r in reasons.items() if r == reason]))
                .values(remote_status=reason, needs_export=False, pending_import_id=None,
                        pending_hash=None))
        members = db.session.execute(
            sending.sending_set_query(self.list_id).with_only_columns(
                sending.ITEMS.c.entity_id, self.record_type.email_column.label("email"))
            .where(self.record_type.email_column.in_(emails))).all()
        known = set(db.session.scalars(select(SyncState.entity_id).where(
            SyncState.connection_id == self.connection.id,
            SyncState.entity_id.in_([m.entity_id for m in members]))))
        rows = [{"connection_id": self.connection.id, "entity_id": m.entity_id,
                 "email": m.email, "remote_status": reasons[m.email], "needs_export": False,
                 "updated_at": utcnow()} for m in members if m.entity_id not in known]
        if rows:
            db.session.execute(insert(SyncState), rows)
        db.session.commit()
        for member in members:
            sending.unsubscribe(self.list_id, member.entity_id)
        self.tracker.add(unsubscribed=len(members))
        return len(members)

    def import_contacts(self) -> None:
        chunk = []
        for contact in self.client.book_contacts(self.book_id, self.connection.import_cursor):
            chunk.append(contact)
            if len(chunk) >= CHUNK:
                self._import_chunk(chunk)
                chunk = []
        if chunk:
            self._import_chunk(chunk)

    def _import_chunk(self, contacts: list[dict]) -> None:
        by_email = {}
        for contact in contacts:
            email = (contact.get("email") or "").strip().lower()
            if email:
                by_email[email] = contact
        emails = list(by_email)
        # Learn the remote ids: removals need them.
        states = db.session.execute(select(STATE.c.id, STATE.c.email, STATE.c.remote_id).where(
            STATE.c.connection_id == self.connection.id, STATE.c.email.in_(emails))).all()
        updates = [{"sid": s.id, "rid": str(by_email[s.email]["id"])} for s in states
                   if s.remote_id != str(by_email[s.email].get("id"))]
        if updates:
            db.session.execute(update(STATE).where(STATE.c.id == bindparam("sid"))
                               .values(remote_id=bindparam("rid")), updates)
        opted_out = {e: c.get("status") for e, c in by_email.items()
                     if c.get("status") and c.get("status") not in MAILABLE}
        if opted_out:
            self.apply_opt_outs(opted_out)
        self._two_way(by_email)
        db.session.commit()
        self.tracker.add(contacts_read=len(contacts))

    def _two_way(self, by_email: dict[str, dict]) -> None:
        two_way = self.columns.two_way
        model = self.record_type.model
        email_col = self.record_type.email_column
        updated = created = 0
        if two_way:
            members = db.session.scalars(select(model).join(
                MarketingListItem, and_(MarketingListItem.entity_id == model.id,
                                        MarketingListItem.marketing_list_id == self.list_id))
                .where(email_col.in_(list(by_email)))).all()
            for record in members:
                email = getattr(record, self.record_type.field(
                    self.record_type.email_field).column.key)
                remote = _remote_values(by_email.get(email) or {})
                changed = False
                for name, kind, key in two_way:
                    if name not in remote:
                        continue
                    attr = self.record_type.field(key).column.key
                    value = _local_value(kind, remote[name], self.record_type.field(key).type)
                    if value is not None and getattr(record, attr) != value:
                        setattr(record, attr, value)
                        changed = True
                updated += changed
        if self.connection.create_entities:
            created = self._create_entities(by_email)
        if updated or created:
            self.tracker.add(records_updated=updated, records_created=created)

    def _create_entities(self, by_email: dict[str, dict]) -> int:
        """Records for book contacts no record of the list's type has the email of."""
        email_col = self.record_type.email_column
        existing = set(db.session.scalars(select(email_col).where(email_col.in_(list(by_email)))))
        required = [f.key for f in self.record_type.fields.values()
                    if f.required and f.key != self.record_type.email_field]
        mapped = {key for _, _, key in self.columns.two_way}
        if any(key not in mapped for key in required):
            # Oro's rule: creating needs Two Way Sync on every required field.
            return 0
        created = []
        for email, contact in by_email.items():
            if email in existing or (contact.get("status") or "Subscribed") not in MAILABLE:
                continue
            remote = _remote_values(contact)
            values = {self.record_type.field(self.record_type.email_field).column.key: email}
            for name, kind, key in self.columns.two_way:
                field = self.record_type.field(key)
                value = _local_value(kind, remote.get(name), field.type)
                if value is not None:
                    values[field.column.key] = value
            if any(values.get(self.record_type.field(k).column.key) in (None, "")
                   for k in required):
                continue
            record = self.record_type.model(**values)
            record.owner_id = self.integration.default_owner_id
            db.session.add(record)
            created.append(record)
        if not created:
            return 0
        db.session.flush()
        if self.connection.marketing_list.type is not ListType.DYNAMIC:
            from services.marketing_lists.membership import insert_ignoring_duplicates

            db.session.execute(insert_ignoring_duplicates(MarketingListItem.__table__), [
                {"marketing_list_id": self.list_id, "entity_id": r.id, "subscribed": True,
                 "contacted_times": 0, "created_at": utcnow()} for r in created])
        else:
            from services.marketing_lists.membership import reevaluate_records

            db.session.commit()
            reevaluate_records(self.entity, [r.id for r in created])
        return len(created)

    # -- export: list → book ----------------------------------------------------------
    def export(self, started) -> None:
        connection = self.connection
        connection.sync_status = SyncStatus.IN_PROGRESS
        db.session.commit()
        self.tracker.phase("Removing contacts that left the list")
        self.remove(plan.removals(connection))
        self.tracker.phase("Exporting contacts")
        cleared: list[int] = []
        summary = plan.PlanSummary()
        batch: list[plan.ExportRow] = []
        seen: set[str] = set()
        sent = 0
        for rows in plan.iter_export(connection, self.columns.values_for, self.entity,
                                     summary=summary, cleared=cleared):
            for row in rows:
                if row.email in seen:
                    continue  # two records sharing an email: one CSV row per email
                seen.add(row.email)
                batch.append(row)
                if len(batch) >= EXPORT_BATCH:
                    sent += self.send(batch)
                    batch = []
                    seen.clear()
        if batch:
            sent += self.send(batch)
        if cleared:
            for start in range(0, len(cleared), CHUNK):
                db.session.execute(update(SyncState).where(
                    SyncState.id.in_(cleared[start:start + CHUNK])).values(needs_export=False))
            db.session.commit()
        self.tracker.add(added=summary.added, updated=summary.updated)
        self.tracker.phase("Waiting for dotdigital to import", exported=sent)
        self.settle_pending(wait=True)
        if self.export_complete:
            connection.export_cursor = started
        db.session.commit()

    def remove(self, removals: list[plan.Removal]) -> None:
        if not removals:
            return
        with_id = [r for r in removals if r.remote_id]
        for r in removals:
            if r.remote_id:
                continue
            try:
                contact = self.client.contact_by_email(r.email)
            except NotFoundError:
                contact = None
            if contact and contact.get("id"):
                r.remote_id = str(contact["id"])
                with_id.append(r)
            else:
                db.session.execute(delete(SyncState).where(SyncState.id == r.state_id))
        db.session.commit()
        for start in range(0, len(with_id), REMOVE_BATCH):
            chunk = with_id[start:start + REMOVE_BATCH]
            self.client.remove_contacts(self.book_id, [int(r.remote_id) for r in chunk])
            # Confirmed (202 Accepted): only now forget the rows.
            db.session.execute(delete(SyncState).where(
                SyncState.id.in_([r.state_id for r in chunk])))
            db.session.commit()
            self.tracker.add(removed=len(chunk))

    def csv_bytes(self, rows: list[plan.ExportRow]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        names = self.columns.names
        writer.writerow(["Email", *names])
        for row in rows:
            writer.writerow([row.email, *(row.values.get(n, "") for n in names)])
        return out.getvalue().encode("utf-8")

    def send(self, rows: list[plan.ExportRow]) -> int:
        """POST one CSV import; then, and only then, note its id on the rows."""
        old_ids = [int(r.old_remote_id) for r in rows if r.old_remote_id]
        if old_ids:
            for start in range(0, len(old_ids), REMOVE_BATCH):
                self.client.remove_contacts(self.book_id, old_ids[start:start + REMOVE_BATCH])
        try:
            answer = self.client.import_contacts(self.book_id, self.csv_bytes(rows))
        except ApiError as exc:
            if isinstance(exc, RateLimitError | ServerError):
                raise
            # Refused batch (e.g. too many active imports): its rows stay flagged.
            self.tracker.error(f"import refused: {exc.message}")
            self.export_complete = False
            return 0
        import_id = str(answer["id"])
        db.session.add(RemoteImport(connection_id=self.connection.id, import_id=import_id,
                                    status=answer.get("status") or "NotFinished",
                                    rows=len(rows)))
        now = utcnow()
        existing = [{"sid": r.state_id, "ph": r.hash, "em": r.email} for r in rows
                    if r.state_id is not None]
        if existing:
            db.session.execute(update(STATE).where(STATE.c.id == bindparam("sid")).values(
                pending_import_id=import_id, pending_hash=bindparam("ph"), email=bindparam("em"),
                needs_export=True, updated_at=now), existing)
        new = [{"connection_id": self.connection.id, "entity_id": r.entity_id, "email": r.email,
                "needs_export": True, "pending_import_id": import_id, "pending_hash": r.hash,
                "updated_at": now} for r in rows if r.state_id is None]
        if new:
            db.session.execute(insert(SyncState), new)
        db.session.commit()
        self.statistics.wrote(len(new))
        self.tracker.progress(self.tracker.counts.get("exported", 0) + len(rows))
        self.tracker.add(exported_rows=len(rows), imports_sent=1)
        return len(rows)

    # -- settling imports -------------------------------------------------------------
    def settle_pending(self, wait: bool) -> None:
        """Poll this connection's open imports, with backoff while ``wait`` and in budget."""
        deadline = time.monotonic() + (self.poll_budget if wait else 0)
        delay = 0.25
        while True:
            open_imports = db.session.scalars(select(RemoteImport).where(
                RemoteImport.connection_id == self.connection.id,
                RemoteImport.done.is_(False)).order_by(RemoteImport.id)).all()
            if not open_imports:
                return
            for imp in open_imports:
                self.poll(imp)
            if all(imp.done for imp in open_imports) or time.monotonic() >= deadline:
                return
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 10.0)

    def poll(self, imp: RemoteImport) -> None:
        try:
            status = (self.client.import_status(imp.import_id) or {}).get("status") or "Unknown"
        except NotFoundError:
            status = "Unknown"
        except (ServerError, RateLimitError) as exc:
            imp.errors += 1
            if imp.errors < MAX_POLL_ERRORS:
                db.session.commit()
                return
            status = "Unknown"
            self.tracker.error(f"import {imp.import_id}: {exc.message}")
        imp.polls += 1
        self.tracker.add(status_polls=1)
        if status == "NotFinished":
            if utcnow() - imp.created_at < IMPORT_GIVE_UP:
                imp.status = status
                db.session.commit()
                return
            status = "Unknown"
        self.apply_import(imp, status)

    def apply_import(self, imp: RemoteImport, status: str) -> None:
        imp.status = status
        pending = SyncState.pending_import_id == imp.import_id
        if status == "Finished":
            faults = self._faults(imp.import_id)
            imp.faults = len(faults)
            if faults:
                self._apply_faults(imp, faults)
            db.session.execute(update(SyncState).where(pending).values(
                fields_hash=SyncState.pending_hash, remote_status="Subscribed",
                needs_export=False, pending_import_id=None, pending_hash=None))
        elif status == "RejectedByWatchdog":
            # Oro's answer: those records leave the list (removed) and their state goes.
            ids = list(db.session.scalars(select(SyncState.entity_id).where(pending)))
            db.session.execute(delete(SyncState).where(pending))
            db.session.commit()
            for entity_id in ids:
                sending.remove(self.list_id, entity_id)
            self.tracker.error(f"import {imp.import_id} rejected by dotdigital's Data Watchdog; "
                               f"{len(ids)} members were removed from the list")
        else:
            db.session.execute(update(SyncState).where(pending).values(
                needs_export=True, pending_import_id=None, pending_hash=None))
            self.tracker.error(f"import {imp.import_id} ended {status}")
        if status != "Finished":
            self.export_complete = False
            self.connection.sync_status = FAILED_IMPORT.get(status, SyncStatus.FAILED)
        imp.done = True
        imp.finished_at = utcnow()
        db.session.commit()

    def _faults(self, import_id: str) -> dict[str, str]:
        try:
            text = self.client.import_faults(import_id)
        except NotFoundError:
            return {}
        reader = csv.reader(io.StringIO(text))
        header = [h.strip().lower() for h in next(reader, [])]
        if "email" not in header or "reason" not in header:
            return {}
        at_email, at_reason = header.index("email"), header.index("reason")
        faults = {}
        for row in reader:
            if len(row) > max(at_email, at_reason):
                faults[row[at_email].strip().lower()] = row[at_reason].strip()
        return faults

    def _apply_faults(self, imp: RemoteImport, faults: dict[str, str]) -> None:
        pending = SyncState.pending_import_id == imp.import_id
        opt_outs = {}
        for email, reason in faults.items():
            status = FAULT_STATUSES.get(reason.lower())
            if status and status not in MAILABLE:
                opt_outs[email] = status
            elif reason.lower() != "duplicate":
                # Refused for its data (invalid email or value): accept the hash so it is
                # not re-sent until the record changes, and say so.
                self.tracker.error(f"{email}: {reason}")
                db.session.execute(update(SyncState).where(pending, SyncState.email == email)
                                   .values(fields_hash=SyncState.pending_hash,
                                           remote_status=None, needs_export=False,
                                           pending_import_id=None, pending_hash=None))
        if opt_outs:
            for email, status in opt_outs.items():
                db.session.execute(update(SyncState).where(pending, SyncState.email == email)
                                   .values(remote_status=status, needs_export=False,
                                           pending_import_id=None, pending_hash=None))
            db.session.commit()
            self.apply_opt_outs(opt_outs)
            self.tracker.add(suppressed=len(opt_outs))


def _remote_values(contact: dict) -> dict[str, object]:
    return {str(item.get("key") or "").upper(): item.get("value")
            for item in contact.get("dataFields") or []}


def _local_value(kind: str, value, field_type: str):
    """A remote data-field value as the record field stores it; None to leave it alone."""
    if value in (None, ""):
        return None
    if field_type in ("string", "email", "phone", "choice"):
        return str(value)[:255]
    if field_type == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if field_type == "bool":
        return str(value).lower() in data_fields.TRUE_WORDS
    return None


def sync_integration(integration: Integration, tracker: RunTracker | None = None,
                     force_fields: bool = False) -> dict[str, int]:
    """Address books, then data fields (when due); returns the counts."""
    from integrations.dotdigital.settings import data_fields_interval

    client = client_for(integration)
    tracker = tracker or RunTracker(None, client)
    tracker.client = client
    try:
        tracker.phase("Connecting")
        client.discover()
        tracker.phase("Importing address books")
        tracker.add(**books.sync_address_books(client, integration))
        due = integration.fields_synced_at is None or \
            utcnow() - integration.fields_synced_at >= data_fields_interval()
        if force_fields or due:
            tracker.phase("Importing data fields")
            tracker.add(**data_fields.sync_data_fields(client, integration))
        integration.last_error = None
        integration.last_synced_at = utcnow()
    except ApiError as exc:
        db.session.rollback()
        integration.last_error = str(exc)
        raise
    finally:
        remember_rate(integration, client)
        db.session.commit()
        tracker.flush()
    return tracker.counts
