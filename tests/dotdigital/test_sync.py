"""List ↔ address book sync against the Dotdigital emulator, over real HTTP."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func
from sqlalchemy import select

import jobs
from extensions import db
from integrations.dotdigital.sync import ListSync
from integrations.dotdigital.sync import client_for
from integrations.http import AuthError
from models.base import utcnow
from models.integrations import ListConnection
from models.integrations import RemoteImport
from models.integrations import SyncState
from models.integrations import SyncStatus
from models.jobs import JobRun
from models.jobs import JobStatus
from models.lists import MarketingListRemovedItem
from models.lists import MarketingListUnsubscribedItem
from services.marketing_lists import sending
from tests import factories_dotdigital as dd_factories
from tests import factories_lists


def calls(base: str) -> list[dict]:
    return requests.get(f"{base}/_emulator/calls", timeout=5).json()


def writes(base: str) -> list[dict]:
    return [c for c in calls(base) if c["method"] != "GET"]


def run_sync(connection: ListConnection, mode: str = "full", budget: float = 20) -> dict:
    connection = db.session.get(ListConnection, connection.id)
    client = client_for(connection.integration)
    return ListSync(connection, client, poll_budget=budget).run(mode)


def states(connection) -> list[SyncState]:
    return list(db.session.scalars(select(SyncState).where(
        SyncState.connection_id == connection.id).order_by(SyncState.entity_id)))


def test_first_export_sends_the_members_and_confirms_state(dotdigital_server):
    _dd, _mlist, rows, connection = dd_factories.connected(dotdigital_server, size=3)
    counts = run_sync(connection)
    assert dd_factories.book_members(dotdigital_server, "Newsletter") == sorted(
        r.email for r in rows)
    remote = {c["email"]: c for c in dd_factories.remote_state(dotdigital_server)["contacts"]}
    first = rows[0]
    fields = {f["key"]: f["value"] for f in remote[first.email]["dataFields"]}
    assert fields["FIRSTNAME"] == first.first_name
    assert fields["FULLNAME"] == f"{first.first_name} {first.last_name}"
    assert counts["added"] == 3 and counts["imports_sent"] == 1
    saved = states(connection)
    assert len(saved) == 3
    assert all(s.fields_hash and not s.needs_export and s.pending_import_id is None
               for s in saved)
    assert all(s.remote_status == "Subscribed" for s in saved)
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is SyncStatus.UP_TO_DATE
    assert connection.export_cursor is not None and connection.last_synced_at is not None


def test_a_second_run_with_no_change_makes_no_write_call(dotdigital_server):
    _dd, _mlist, _rows, connection = dd_factories.connected(dotdigital_server, size=4)
    run_sync(connection)
    dd_factories.control(dotdigital_server, "faults", {})
    before = len(writes(dotdigital_server))
    counts = run_sync(connection)
    assert len(writes(dotdigital_server)) == before
    assert counts.get("exported_rows", 0) == 0
    # The second run learnt the remote ids (removals need them).
    assert all(s.remote_id for s in states(connection))


def test_changed_values_removals_and_new_members_go_out_incrementally(dotdigital_server):
    _dd, mlist, rows, connection = dd_factories.connected(dotdigital_server, size=4)
    run_sync(connection)
    run_sync(connection)  # learns remote ids
    rows[0].first_name = "Renamed"
    db.session.commit()
    sending.remove(mlist.id, rows[1].id)
    newcomer = factories_lists.contact()
    from models.base import utcnow
    from models.lists import MarketingListItem
    from services.marketing_lists.membership import insert_ignoring_duplicates

    db.session.execute(insert_ignoring_duplicates(MarketingListItem.__table__), [{
        "marketing_list_id": mlist.id, "entity_id": newcomer.id, "subscribed": True,
        "contacted_times": 0, "created_at": utcnow()}])
    db.session.commit()
    state = dd_factories.remote_state(dotdigital_server)
    imports_before = len(state["imports"])
    counts = run_sync(connection)
    state = dd_factories.remote_state(dotdigital_server)
    new_imports = state["imports"][imports_before:]
    assert len(new_imports) == 1
    sent = sorted(row[0] for row in new_imports[0]["rows"])
    assert sent == sorted([rows[0].email, newcomer.email])
    assert counts["removed"] == 1 and counts["added"] == 1 and counts["updated"] == 1
    members = dd_factories.book_members(dotdigital_server, "Newsletter")
    assert rows[1].email not in members and newcomer.email in members
    remote = {c["email"]: c for c in state["contacts"]}
    assert {f["key"]: f["value"] for f in remote[rows[0].email]["dataFields"]}[
        "FIRSTNAME"] == "Renamed"


def test_unsubscribes_and_suppressions_are_imported_first_and_never_exported(dotdigital_server):
    _dd, mlist, rows, connection = dd_factories.connected(dotdigital_server, size=3)
    run_sync(connection)
    api = requests.Session()
    api.auth = ("demo@apiconnector.com", "demo-password-1")
    book_id = connection.remote_id
    api.post(f"{dotdigital_server}/v2/address-books/{book_id}/contacts/unsubscribe",
             json={"email": rows[0].email}, timeout=5).raise_for_status()
    api.post(f"{dotdigital_server}/v2/contacts/unsubscribe",
             json={"email": rows[1].email}, timeout=5).raise_for_status()
    rows[0].first_name = "Changed"  # a change must not re-subscribe them
    db.session.commit()
    before = len(dd_factories.remote_state(dotdigital_server)["imports"])
    run_sync(connection)
    unsubscribed = set(db.session.scalars(select(MarketingListUnsubscribedItem.entity_id).where(
        MarketingListUnsubscribedItem.marketing_list_id == mlist.id)))
    assert unsubscribed == {rows[0].id, rows[1].id}
    after = dd_factories.remote_state(dotdigital_server)["imports"][before:]
    assert all(rows[0].email not in [r[0] for r in imp["rows"]] for imp in after)
    by_entity = {s.entity_id: s for s in states(connection)}
    assert by_entity[rows[0].id].remote_status == "Unsubscribed"
    assert by_entity[rows[1].id].remote_status == "Unsubscribed"
    # Subscribing again locally still does not export them: the remote opt-out wins.
    sending.subscribe(mlist.id, rows[0].id)
    before = len(dd_factories.remote_state(dotdigital_server)["imports"])
    run_sync(connection)
    after = dd_factories.remote_state(dotdigital_server)["imports"][before:]
    assert all(rows[0].email not in [r[0] for r in imp["rows"]] for imp in after)


def test_suppressed_contacts_in_the_faults_report_become_unsubscribed(dotdigital_server):
    _dd, _mlist, rows, connection = dd_factories.connected(dotdigital_server, size=3)
    dd_factories.seed(dotdigital_server, contacts=[{"email": rows[2].email,
                                                     "status": "HardBounced"}])
    # The suppression import would catch it first; skip it to exercise the faults report.
    connection.import_cursor = None
    db.session.commit()
    sync = ListSync(db.session.get(ListConnection, connection.id),
                    client_for(connection.integration), poll_budget=20)
    sync.client.discover()
    sync.export(started=utcnow())
    by_entity = {s.entity_id: s for s in states(connection)}
    assert by_entity[rows[2].id].remote_status == "HardBounced"
    assert by_entity[rows[0].id].remote_status == "Subscribed"
    assert db.session.scalar(select(func.count()).select_from(
        MarketingListUnsubscribedItem).where(
        MarketingListUnsubscribedItem.entity_id == rows[2].id)) == 1


def test_a_watchdog_rejection_removes_the_batch_from_the_list(dotdigital_server):
    _dd, mlist, rows, connection = dd_factories.connected(dotdigital_server, size=2)
    dd_factories.control(dotdigital_server, "dotdigital/import-outcome",
                         {"status": "RejectedByWatchdog"})
    run_sync(connection)
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is SyncStatus.REJECTED
    assert "Data Watchdog" in connection.sync_message
    removed = set(db.session.scalars(select(MarketingListRemovedItem.entity_id).where(
        MarketingListRemovedItem.marketing_list_id == mlist.id)))
    assert removed == {r.id for r in rows}
    assert states(connection) == []


@pytest.mark.parametrize(("outcome", "status"), [
    ("ExceedsAllowedContactLimit", SyncStatus.LIMIT_EXCEEDED),
    ("Failed", SyncStatus.FAILED),
])
def test_a_failed_import_keeps_rows_flagged_and_the_next_run_converges(
        dotdigital_server, outcome, status):
    _dd, _mlist, rows, connection = dd_factories.connected(dotdigital_server, size=2)
    dd_factories.control(dotdigital_server, "dotdigital/import-outcome", {"status": outcome})
    run_sync(connection)
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is status
    assert connection.export_cursor is None
    assert all(s.needs_export and s.fields_hash is None for s in states(connection))
    assert dd_factories.book_members(dotdigital_server, "Newsletter") == []
    run_sync(connection)
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is SyncStatus.UP_TO_DATE
    assert dd_factories.book_members(dotdigital_server, "Newsletter") == sorted(
        r.email for r in rows)


def test_an_import_stuck_in_not_finished_is_settled_by_a_later_status_run(dotdigital_server):
    _dd, _mlist, _rows, connection = dd_factories.connected(dotdigital_server, size=2)
    dd_factories.control(dotdigital_server, "dotdigital/import-outcome", {"status": "NotFinished"})
    run_sync(connection, budget=0.5)
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is SyncStatus.IN_PROGRESS
    imp = db.session.scalar(select(RemoteImport).where(RemoteImport.connection_id ==
                                                       connection.id))
    assert not imp.done and imp.polls >= 1
    assert all(s.pending_import_id == imp.import_id for s in states(connection))
    dd_factories.control(dotdigital_server, "dotdigital/import-outcome",
                         {"import_id": imp.import_id, "status": "Finished"})
    run = jobs.enqueue("dotdigital_export_status")
    assert db.session.get(JobRun, run.id).status is JobStatus.SUCCEEDED
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is SyncStatus.UP_TO_DATE
    assert all(s.pending_import_id is None and s.fields_hash for s in states(connection))


def test_a_book_deleted_remotely_gives_a_clear_status_and_keeps_the_list(dotdigital_server):
    _dd, mlist, rows, connection = dd_factories.connected(dotdigital_server, size=2)
    run_sync(connection)
    api = requests.Session()
    api.auth = ("demo@apiconnector.com", "demo-password-1")
    api.delete(f"{dotdigital_server}/v2/address-books/{connection.remote_id}",
               timeout=5).raise_for_status()
    run = jobs.enqueue("dotdigital_list_sync", connection.job_target,
                       {"connection_id": connection.id})
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.FAILED and "was deleted in dotdigital" in run.error
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is SyncStatus.REMOTE_MISSING
    assert sorted(factories_lists.members(mlist)) == sorted(r.id for r in rows)
    assert db.session.scalar(select(func.count()).select_from(MarketingListRemovedItem)) == 0


def test_wrong_credentials_fail_with_the_api_message(dotdigital_server):
    dd, _mlist, _rows, connection = dd_factories.connected(dotdigital_server, size=1)
    dd.api_secret = "wrong-password"
    db.session.commit()
    with pytest.raises(AuthError, match="Authorization has been denied"):
        run_sync(connection)
    run = jobs.enqueue("dotdigital_list_sync", connection.job_target,
                       {"connection_id": connection.id})
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.FAILED
    assert "Authorization has been denied" in run.error


def test_the_api_down_fails_the_run_and_the_next_run_converges(dotdigital_server, app):
    _dd, _mlist, rows, connection = dd_factories.connected(dotdigital_server, size=3)
    dd_factories.control(dotdigital_server, "faults", {"error_rate": 1.0, "error_status": 503})
    run = jobs.enqueue("dotdigital_list_sync", connection.job_target,
                       {"connection_id": connection.id})
    run = db.session.get(JobRun, run.id)
    assert run.status is JobStatus.FAILED and "503" in run.error
    assert run.counts["calls"] >= 5 and run.counts["retries"] >= 4
    dd_factories.control(dotdigital_server, "faults", {})
    run_sync(connection)
    assert dd_factories.book_members(dotdigital_server, "Newsletter") == sorted(
        r.email for r in rows)


def test_under_faults_the_export_converges_without_duplicates(dotdigital_server):
    _dd, _mlist, rows, connection = dd_factories.connected(dotdigital_server, size=30)
    dd_factories.control(dotdigital_server, "faults", {
        "error_rate": 0.1, "throttle_rate": 0.1, "retry_after": 0, "seed": 3})
    for _ in range(3):
        try:
            run_sync(connection)
        except Exception:  # noqa: BLE001 - a run may fail; the next one resumes
            db.session.rollback()
        if db.session.get(ListConnection, connection.id).sync_status is SyncStatus.UP_TO_DATE:
            break
    dd_factories.control(dotdigital_server, "faults", {})
    members = dd_factories.book_members(dotdigital_server, "Newsletter")
    assert members == sorted(r.email for r in rows)
    state = dd_factories.remote_state(dotdigital_server)
    emails = [c["email"] for c in state["contacts"]]
    assert len(emails) == len(set(emails))


def test_one_list_sync_at_a_time(dotdigital_server):
    _dd, _mlist, _rows, connection = dd_factories.connected(dotdigital_server, size=1)
    first = JobRun(kind="dotdigital_list_sync", target=connection.job_target,
                   status=JobStatus.RUNNING, params={"connection_id": connection.id})
    db.session.add(first)
    db.session.commit()
    again = jobs.enqueue("dotdigital_list_sync", connection.job_target,
                         {"connection_id": connection.id})
    assert again.id == first.id
