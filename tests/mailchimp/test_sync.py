"""List ↔ static segment sync against the Mailchimp emulator, over real HTTP."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import delete
from sqlalchemy import select

from emulators.mailchimp_data import DEFAULT_API_KEY
from emulators.mailchimp_data import DEFAULT_LIST_ID
from extensions import db
from integrations.http import ServerError
from integrations.mailchimp import audiences
from integrations.mailchimp.client import MailchimpClient
from integrations.mailchimp.integration import client_for
from integrations.mailchimp.sync import ListSync
from models.integrations import ListConnection
from models.integrations import SyncState
from models.integrations import SyncStatus
from models.lists import MarketingListItem
from models.lists import MarketingListUnsubscribedItem
from models.mailchimp import MailchimpRejection
from services.marketing_lists import sending
from tests import factories_lists
from tests import factories_mailchimp as mc_factories


def run_sync(connection: ListConnection, **client_kwargs) -> dict:
    connection = db.session.get(ListConnection, connection.id)
    client_kwargs.setdefault("backoff_base", 0.01)
    client = client_for(connection.integration, **client_kwargs)
    counts = ListSync(connection, client).run()
    return dict(counts, calls=client.calls, retries=client.retries)


def states(connection) -> list[SyncState]:
    return list(db.session.scalars(select(SyncState).where(
        SyncState.connection_id == connection.id).order_by(SyncState.entity_id)))


def segment_of(connection) -> str:
    return audiences.split(db.session.get(ListConnection, connection.id))[1]


def unsubscribed_ids(mlist) -> set[int]:
    return set(db.session.scalars(select(MarketingListUnsubscribedItem.entity_id).where(
        MarketingListUnsubscribedItem.marketing_list_id == mlist.id)))


def add_member(mlist, record) -> None:
    from models.base import utcnow
    from services.marketing_lists.membership import insert_ignoring_duplicates

    db.session.execute(insert_ignoring_duplicates(MarketingListItem.__table__), [{
        "marketing_list_id": mlist.id, "entity_id": record.id, "subscribed": True,
        "contacted_times": 0, "created_at": utcnow()}])
    db.session.commit()


def remote_unsubscribe(base: str, email: str) -> None:
    """The member unsubscribes themselves in Mailchimp (a compliance state)."""
    mc_factories.seed(base, members=[{"email_address": email, "status": "unsubscribed"}])


def test_first_export_subscribes_fills_the_segment_and_confirms_state(mailchimp_server):
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=3)
    counts = run_sync(connection)
    emails = sorted(r.email for r in rows)
    assert mc_factories.segment_emails(mailchimp_server, segment_of(connection)) == emails
    member = mc_factories.member(mailchimp_server, rows[0].email)
    assert member["status"] == "subscribed"
    assert member["merge_fields"]["FNAME"] == rows[0].first_name
    assert member["merge_fields"]["LNAME"] == rows[0].last_name
    assert counts["subscribe_calls"] == 1 and counts["segment_calls"] == 1
    assert counts["added"] == 3 and counts["exported"] == 3
    saved = states(connection)
    assert len(saved) == 3
    assert all(s.fields_hash and s.remote_status == "Subscribed" and not s.needs_export
               for s in saved)
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is SyncStatus.UP_TO_DATE
    assert connection.export_cursor is not None and connection.last_synced_at is not None


def test_a_second_run_with_no_change_makes_zero_write_calls(mailchimp_server):
    _mc, _mlist, _rows, connection = mc_factories.connected(mailchimp_server, size=5)
    run_sync(connection)
    before = len(mc_factories.writes(mailchimp_server))
    counts = run_sync(connection)
    assert len(mc_factories.writes(mailchimp_server)) == before
    assert counts.get("subscribe_calls", 0) == 0 and counts.get("segment_calls", 0) == 0


def test_changes_go_out_in_the_reference_order_and_only_what_changed(mailchimp_server):
    _mc, mlist, rows, connection = mc_factories.connected(mailchimp_server, size=5)
    run_sync(connection)
    renamed, left, unsubscribed, removed = rows[0], rows[1], rows[2], rows[3]
    renamed.first_name = "Renamed"
    db.session.commit()
    db.session.execute(delete(MarketingListItem).where(
        MarketingListItem.marketing_list_id == mlist.id, MarketingListItem.entity_id == left.id))
    db.session.commit()
    sending.unsubscribe(mlist.id, unsubscribed.id)
    sending.remove(mlist.id, removed.id)
    newcomer = factories_lists.contact()
    add_member(mlist, newcomer)
    mark = len(mc_factories.calls(mailchimp_server))
    counts = run_sync(connection)
    writes = [c for c in mc_factories.calls(mailchimp_server)[mark:] if c["method"] != "GET"]
    segment = segment_of(connection)
    # add (subscribe, segment add), remove, unsubscribe (segment, audience), delete (archive)
    kinds = [("segment" if "/segments/" in c["path"] else
              "archive" if c["method"] == "DELETE" else "subscribe") for c in writes]
    assert kinds == ["subscribe", "segment", "segment", "segment", "subscribe", "segment",
                     "archive"]
    assert counts["added"] == 1 and counts["updated"] == 1
    assert mc_factories.segment_emails(mailchimp_server, segment) == sorted(
        [renamed.email, rows[4].email, newcomer.email])
    assert mc_factories.member(mailchimp_server, renamed.email)["merge_fields"]["FNAME"] == \
        "Renamed"
    assert mc_factories.member(mailchimp_server, left.email)["status"] == "subscribed"
    assert mc_factories.member(mailchimp_server, unsubscribed.email)["status"] == "unsubscribed"
    assert mc_factories.member(mailchimp_server, removed.email)["status"] == "archived"
    by_entity = {s.entity_id: s for s in states(connection)}
    assert left.id not in by_entity and removed.id not in by_entity
    assert by_entity[unsubscribed.id].remote_status == "Unsubscribed"
    # And then nothing more to do.
    before = len(mc_factories.writes(mailchimp_server))
    run_sync(connection)
    assert len(mc_factories.writes(mailchimp_server)) == before


def test_remote_unsubscribes_are_imported_first_and_never_exported_as_subscribed(
        mailchimp_server):
    _mc, mlist, rows, connection = mc_factories.connected(mailchimp_server, size=3)
    run_sync(connection)
    gone = rows[0]
    remote_unsubscribe(mailchimp_server, gone.email)
    mc_factories.seed(mailchimp_server, members=[{"email_address": rows[1].email,
                                                  "status": "cleaned"}])
    counts = run_sync(connection)
    assert counts["unsubscribed_here"] == 2
    assert unsubscribed_ids(mlist) == {rows[0].id, rows[1].id}
    by_entity = {s.entity_id: s for s in states(connection)}
    assert by_entity[gone.id].remote_status == "Unsubscribed"
    assert by_entity[rows[1].id].remote_status == "Cleaned"
    # A later change of the record and a re-subscription here do not send them again.
    gone.first_name = "Changed"
    db.session.commit()
    sending.subscribe(mlist.id, gone.id)
    mark = len(mc_factories.calls(mailchimp_server))
    run_sync(connection)
    sent = mc_factories.calls(mailchimp_server)[mark:]
    assert not [c for c in sent if c["method"] == "POST"]
    assert mc_factories.member(mailchimp_server, gone.email)["status"] == "unsubscribed"


def test_an_existing_remote_opt_out_is_respected_on_the_first_export(mailchimp_server):
    mc = mc_factories.integration(mailchimp_server)
    mlist, rows = mc_factories.contact_list(2)
    remote_unsubscribe(mailchimp_server, rows[0].email)
    _mc, _mlist, _rows, connection = mc_factories.connected(mailchimp_server, size=0, mc=mc)
    connection = audiences.connect(client_for(mc), mlist, mc, DEFAULT_LIST_ID, "Opt-out test")
    run_sync(connection)
    assert mc_factories.member(mailchimp_server, rows[0].email)["status"] == "unsubscribed"
    assert rows[0].id in unsubscribed_ids(mlist)
    assert mc_factories.segment_emails(mailchimp_server, segment_of(connection)) == [
        rows[1].email]


@pytest.mark.parametrize("priority", ["remote", "local"])
def test_two_way_resubscription_in_mailchimp_follows_the_sync_priority(mailchimp_server,
                                                                       priority):
    _mc, mlist, rows, connection = mc_factories.connected(mailchimp_server, size=2,
                                                          two_way=True, priority=priority)
    run_sync(connection)
    person = rows[0]
    sending.unsubscribe(mlist.id, person.id)
    run_sync(connection)  # unsubscribed in the audience by us (an admin unsubscribe)
    assert mc_factories.member(mailchimp_server, person.email)["status"] == "unsubscribed"
    # The person subscribes again in Mailchimp.
    response = mc_factories.api(mailchimp_server).patch(
        f"{mailchimp_server}/3.0/lists/{DEFAULT_LIST_ID}/members/{person.email}",
        json={"status": "subscribed"}, timeout=5)
    assert response.status_code == 200, response.text
    run_sync(connection)
    remote = mc_factories.member(mailchimp_server, person.email)["status"]
    segment = mc_factories.segment_emails(mailchimp_server, segment_of(connection))
    if priority == "remote":
        assert person.id not in unsubscribed_ids(mlist)
        assert remote == "subscribed" and person.email in segment
    else:
        assert person.id in unsubscribed_ids(mlist)
        assert remote == "unsubscribed"


def test_two_way_local_wins_resubscribes_in_mailchimp_but_respects_self_unsubscribes(
        mailchimp_server):
    _mc, mlist, rows, connection = mc_factories.connected(mailchimp_server, size=2,
                                                          two_way=True, priority="local")
    run_sync(connection)
    by_us, by_self = rows
    sending.unsubscribe(mlist.id, by_us.id)
    run_sync(connection)
    remote_unsubscribe(mailchimp_server, by_self.email)
    run_sync(connection)
    assert unsubscribed_ids(mlist) == {by_us.id, by_self.id}
    sending.subscribe(mlist.id, by_us.id)
    sending.subscribe(mlist.id, by_self.id)
    counts = run_sync(connection)
    assert mc_factories.member(mailchimp_server, by_us.email)["status"] == "subscribed"
    assert by_us.email in mc_factories.segment_emails(mailchimp_server, segment_of(connection))
    # Mailchimp refuses to re-subscribe someone who unsubscribed themselves.
    assert mc_factories.member(mailchimp_server, by_self.email)["status"] == "unsubscribed"
    assert unsubscribed_ids(mlist) == {by_self.id}
    assert counts["resubscribed_remotely"] == 1
    assert "cannot be re-subscribed" in db.session.get(ListConnection,
                                                       connection.id).sync_message


def test_without_two_way_sync_a_remote_resubscription_does_not_flow(mailchimp_server):
    _mc, mlist, rows, connection = mc_factories.connected(mailchimp_server, size=1)
    run_sync(connection)
    sending.unsubscribe(mlist.id, rows[0].id)
    run_sync(connection)
    mc_factories.api(mailchimp_server).patch(
        f"{mailchimp_server}/3.0/lists/{DEFAULT_LIST_ID}/members/{rows[0].email}",
        json={"status": "subscribed"}, timeout=5).raise_for_status()
    before = len(mc_factories.writes(mailchimp_server))
    run_sync(connection)
    assert rows[0].id in unsubscribed_ids(mlist)
    assert len(mc_factories.writes(mailchimp_server)) == before


def test_a_rejected_email_is_noted_and_not_sent_again_until_it_changes(mailchimp_server):
    _mc, mlist, rows, connection = mc_factories.connected(mailchimp_server, size=2)
    bad = factories_lists.contact(email="someone@localhost")
    add_member(mlist, bad)
    counts = run_sync(connection)
    assert counts["rejected"] == 1
    rejection = db.session.scalar(select(MailchimpRejection))
    assert rejection.email == "someone@localhost" and "fake or invalid" in rejection.reason
    assert sorted(mc_factories.segment_emails(mailchimp_server, segment_of(connection))) == \
        sorted(r.email for r in rows)
    before = len(mc_factories.writes(mailchimp_server))
    run_sync(connection)
    assert len(mc_factories.writes(mailchimp_server)) == before
    bad.email = "someone@example.org"
    db.session.commit()
    run_sync(connection)
    assert "someone@example.org" in mc_factories.segment_emails(mailchimp_server,
                                                                 segment_of(connection))
    assert db.session.scalar(select(MailchimpRejection)) is None


def test_a_crash_mid_export_then_a_retry_neither_loses_nor_duplicates(mailchimp_server):
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=700)
    segment = segment_of(connection)
    # Segment edits fail for good: the first batch is subscribed, never added, and the
    # run dies there, as a killed worker would.
    mc_factories.control(mailchimp_server, "faults", {
        "error_rate": 1.0, "error_status": 503,
        "paths": [f"/us21/3.0/lists/{DEFAULT_LIST_ID}/segments/{segment}"]})
    with pytest.raises(ServerError):
        run_sync(connection, max_attempts=2)
    assert states(connection) == []
    assert db.session.get(ListConnection, connection.id).sync_status is SyncStatus.FAILED
    mc_factories.control(mailchimp_server, "faults", {})
    run_sync(connection)
    emails = sorted(r.email for r in rows)
    assert mc_factories.segment_emails(mailchimp_server, segment) == emails
    saved = states(connection)
    assert len(saved) == 700 and len({s.entity_id for s in saved}) == 700
    total = mc_factories.get(mailchimp_server, f"/lists/{DEFAULT_LIST_ID}/members",
                             count=1)["total_items"]
    assert total == 700


def test_5xx_and_429_storms_are_retried_and_the_sync_converges(mailchimp_server):
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=30)
    mc_factories.control(mailchimp_server, "faults", {
        "error_rate": 0.3, "error_status": 502, "throttle_rate": 0.3, "retry_after": 0,
        "seed": 11})
    counts = run_sync(connection, max_attempts=12)
    mc_factories.control(mailchimp_server, "faults", {})
    assert counts["retries"] > 0
    assert mc_factories.segment_emails(mailchimp_server, segment_of(connection)) == sorted(
        r.email for r in rows)


def test_the_ten_connection_limit_answers_429_and_the_sync_waits(mailchimp_server):
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=3)
    # Ten slow calls hold every connection the key may have open.
    mc_factories.control(mailchimp_server, "faults", {"delay": 1.5, "paths": ["/us21/3.0/ping"]})
    holders = [threading.Thread(target=requests.get, args=(f"{mailchimp_server}/us21/3.0/ping",),
                                kwargs={"auth": ("x", DEFAULT_API_KEY), "timeout": 10})
               for _ in range(10)]
    for thread in holders:
        thread.start()
    import time

    time.sleep(0.4)
    counts = run_sync(connection, max_attempts=6)
    for thread in holders:
        thread.join()
    assert counts["retries"] >= 1
    throttled = [c for c in mc_factories.calls(mailchimp_server)
                 if c["path"].startswith("/us21/3.0/lists")]
    assert len(throttled) > counts["calls"] - counts["retries"] - 1
    assert mc_factories.segment_emails(mailchimp_server, segment_of(connection)) == sorted(
        r.email for r in rows)


def test_a_segment_deleted_in_mailchimp_is_created_again_and_refilled(mailchimp_server):
    mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=3)
    run_sync(connection)
    old = segment_of(connection)
    mc_factories.api(mailchimp_server).delete(
        f"{mailchimp_server}/3.0/lists/{DEFAULT_LIST_ID}/segments/{old}",
        timeout=5).raise_for_status()
    from integrations.mailchimp.integration import sync_integration

    counts = sync_integration(mc)
    assert counts["segments_missing"] == 1
    assert "deleted in Mailchimp" in db.session.get(ListConnection, connection.id).sync_message
    run_sync(connection)
    new = segment_of(connection)
    assert new and new != old
    assert mc_factories.segment_emails(mailchimp_server, new) == sorted(r.email for r in rows)


def test_a_segment_deleted_between_runs_is_recreated_within_the_run(mailchimp_server):
    _mc, mlist, rows, connection = mc_factories.connected(mailchimp_server, size=2)
    run_sync(connection)
    mc_factories.api(mailchimp_server).delete(
        f"{mailchimp_server}/3.0/lists/{DEFAULT_LIST_ID}/segments/{segment_of(connection)}",
        timeout=5).raise_for_status()
    newcomer = factories_lists.contact()
    add_member(mlist, newcomer)
    run_sync(connection)
    assert mc_factories.segment_emails(mailchimp_server, segment_of(connection)) == sorted(
        [r.email for r in rows] + [newcomer.email])


def test_list_columns_become_merge_fields_and_a_refused_one_is_reported(mailchimp_server):
    columns = [{"field": "email", "label": "Email"}, {"field": "company", "label": "Company"},
               {"field": "job_title", "label": "Job title"}]
    mc = mc_factories.integration(mailchimp_server)
    mc_factories.control(mailchimp_server, "mailchimp/config", {"max_merge_fields": 6})
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=1, mc=mc,
                                                           columns=columns)
    rows[0].company = "Acme\tLtd"
    db.session.commit()
    run_sync(connection)
    member = mc_factories.member(mailchimp_server, rows[0].email)
    assert member["merge_fields"]["E_COMPANY"] == "Acme Ltd"
    assert "E_JOBTITLE" not in member["merge_fields"]
    connection = db.session.get(ListConnection, connection.id)
    assert connection.sync_status is SyncStatus.UP_TO_DATE
    assert "E_JOBTITLE" in connection.sync_message and "maximum" in connection.sync_message
    # Once the audience allows it, the next run converges.
    mc_factories.control(mailchimp_server, "mailchimp/config", {"max_merge_fields": None})
    run_sync(connection)
    assert "E_JOBTITLE" in mc_factories.member(mailchimp_server, rows[0].email)["merge_fields"]


def test_invalid_key_and_wrong_datacenter_fail_clearly(mailchimp_server):
    from integrations.mailchimp.integration import check_connection
    from services.integrations import IntegrationError

    mc = mc_factories.integration(mailchimp_server)
    assert check_connection(mc) == "Everything's Chimpy!"
    mc.api_secret = "f" * 32 + "-us21"
    with pytest.raises(IntegrationError, match="refused the API key"):
        check_connection(mc)
    mc.api_secret = DEFAULT_API_KEY
    mc.api_base_url = f"{mailchimp_server}/us6"
    with pytest.raises(IntegrationError, match="datacenter"):
        check_connection(mc)
    mc.api_secret = "not-a-key"
    with pytest.raises(IntegrationError, match="datacenter"):
        check_connection(mc)


def test_the_client_appends_3_0_to_the_base_template():
    client = MailchimpClient("https://{dc}.api.mailchimp.com", DEFAULT_API_KEY)
    assert client.base_url == "https://us21.api.mailchimp.com/3.0"
    assert MailchimpClient("http://127.0.0.1:5102/", DEFAULT_API_KEY).base_url == \
        "http://127.0.0.1:5102/3.0"


def test_a_large_export_goes_out_in_concurrent_batches_all_recorded(mailchimp_server):
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=1600)
    counts = run_sync(connection)
    assert counts["subscribe_calls"] == 4 and counts["segment_calls"] == 4
    assert counts["exported"] == 1600
    # The workers' calls are counted on the run's client, as the run reports them.
    assert counts["calls"] >= 8
    assert mc_factories.segment_emails(mailchimp_server, segment_of(connection)) == sorted(
        r.email for r in rows)
    saved = states(connection)
    assert len(saved) == 1600 and all(s.remote_status == "Subscribed" for s in saved)


def test_a_batch_failing_among_concurrent_ones_keeps_the_confirmed_ones(mailchimp_server):
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=1600)
    segment = segment_of(connection)
    # Seeded so the first segment edit succeeds and the second and third fail.
    mc_factories.control(mailchimp_server, "faults", {
        "error_rate": 0.5, "error_status": 503, "seed": 22,
        "paths": [f"/us21/3.0/lists/{DEFAULT_LIST_ID}/segments/{segment}"]})
    with pytest.raises(ServerError):
        run_sync(connection, max_attempts=1)
    mc_factories.control(mailchimp_server, "faults", {})
    remote = set(mc_factories.segment_emails(mailchimp_server, segment))
    recorded = {s.email for s in states(connection)}
    # State only for what Mailchimp confirmed, and at least the first batch was.
    assert recorded and recorded <= remote
    mark = len(mc_factories.calls(mailchimp_server))
    counts = run_sync(connection)
    assert mc_factories.segment_emails(mailchimp_server, segment) == sorted(
        r.email for r in rows)
    assert len(states(connection)) == 1600
    # Confirmed batches are not sent again.
    assert counts["added"] == 1600 - len(recorded)
    resent = [c for c in mc_factories.calls(mailchimp_server)[mark:]
              if c["method"] == "POST" and c["path"].endswith(f"/lists/{DEFAULT_LIST_ID}")]
    assert len(resent) == counts["subscribe_calls"] < 4


def test_an_email_in_two_batches_is_sent_in_plan_order(mailchimp_server):
    _mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=1200)
    first, later = rows[0], rows[1100]
    later.email = first.email
    db.session.commit()
    run_sync(connection)
    # The later record's batch waited for the earlier one, so its values are what stays.
    member = mc_factories.member(mailchimp_server, first.email)
    assert member["merge_fields"]["FNAME"] == later.first_name
    by_entity = {s.entity_id: s for s in states(connection)}
    assert by_entity[first.id].email == by_entity[later.id].email == first.email.lower()
