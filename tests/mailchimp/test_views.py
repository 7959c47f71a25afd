"""Mailchimp pages: the integration form, the list panel, the campaign statistics block."""

from __future__ import annotations

from sqlalchemy import select

from emulators.mailchimp_data import DEFAULT_API_KEY
from emulators.mailchimp_data import DEFAULT_LIST_ID
from extensions import db
from integrations.mailchimp import audiences
from integrations.mailchimp.integration import sync_integration
from models.email_campaigns import EmailCampaign
from models.integrations import Integration
from models.integrations import ListConnection
from models.jobs import JobRun
from models.mailchimp import MailchimpCampaign
from models.users import Role
from tests import factories_mailchimp as mc_factories

HX = {"HX-Request": "true"}


def test_create_a_mailchimp_integration_and_check_the_connection(client, auth,
                                                                 mailchimp_server):
    auth.login_as(Role.ADMIN)
    page = client.get("/integrations/new/mailchimp")
    assert page.status_code == 200 and b"Activity Update Interval" in page.data
    form = {"name": "MC", "password": DEFAULT_API_KEY, "enabled": "y",
            "activity_interval": "30", "two_way_sync": "y", "sync_priority": "local",
            "api_base_url": f"{mailchimp_server}/{{dc}}"}
    check = client.post("/integrations/check/mailchimp", data=form, headers=HX)
    assert b"Everything&#39;s Chimpy!" in check.data or b"Everything's Chimpy!" in check.data
    bad = client.post("/integrations/check/mailchimp",
                      data=dict(form, password="f" * 32 + "-us21"), headers=HX)
    assert b"refused the API key" in bad.data
    created = client.post("/integrations/new/mailchimp", data=form)
    assert created.status_code == 303, created.data
    integration = db.session.scalar(select(Integration).where(Integration.type == "mailchimp"))
    assert integration.api_secret == DEFAULT_API_KEY
    assert integration.settings["activity_interval"] == 30
    assert integration.settings["two_way_sync"] is True
    assert integration.settings["sync_priority"] == "local"
    # Creating schedules a sync: the audiences are imported.
    assert audiences.audiences_of(integration.id)[0].remote_id == DEFAULT_LIST_ID
    view = client.get(f"/integrations/{integration.id}")
    assert DEFAULT_API_KEY.encode() not in view.data
    assert b'value="30" selected' in view.data or b'selected value="30"' in view.data
    assert b"mailchimp_integration_sync" in view.data or b"Mailchimp integration" in view.data


def test_bad_integration_input_is_refused_with_a_message(client, auth, mailchimp_server):
    auth.login_as(Role.ADMIN)
    response = client.post("/integrations/new/mailchimp", data={
        "name": "MC", "password": "not-a-key", "activity_interval": "90",
        "sync_priority": "remote"}, headers=HX)
    assert response.status_code == 422
    assert b"32 hexadecimal characters" in response.data
    assert db.session.scalar(select(Integration.id)) is None


def test_connect_synchronize_and_disconnect_a_list(client, auth, mailchimp_server):
    auth.login_as(Role.ADMIN)
    mc = mc_factories.integration(mailchimp_server)
    sync_integration(mc)
    mlist, rows = mc_factories.contact_list(2)
    page = client.get(f"/marketing-lists/{mlist.id}")
    assert b"Connect to Mailchimp" in page.data
    dialog = client.get(f"/mailchimp/lists/{mlist.id}/connect", headers=HX)
    assert b"Mailchimp Segment Name" in dialog.data and b"Listbridge Demo Audience" in dialog.data
    empty = client.post(f"/mailchimp/lists/{mlist.id}/connect", headers=HX, data={
        "segment_name": "", "integration": str(mc.id), "audience": DEFAULT_LIST_ID})
    assert empty.status_code == 422 and b"should not be blank" in empty.data
    done = client.post(f"/mailchimp/lists/{mlist.id}/connect", headers=HX, data={
        "segment_name": "Spring", "integration": str(mc.id), "audience": DEFAULT_LIST_ID})
    assert done.status_code == 200
    assert b'linked to "Spring" segment of "Listbridge Demo Audience"' in done.data
    assert b"Up to date" in done.data
    connection = audiences.for_list(mlist.id)
    assert mc_factories.segment_emails(mailchimp_server, audiences.split(connection)[1]) == \
        sorted(r.email for r in rows)
    # A second list may not take the same segment name in the audience.
    other, _ = mc_factories.contact_list(1)
    clash = client.post(f"/mailchimp/lists/{other.id}/connect", headers=HX, data={
        "segment_name": "Spring", "integration": str(mc.id), "audience": DEFAULT_LIST_ID})
    assert clash.status_code == 422 and b"unique in the audience" in clash.data
    synced = client.post(f"/mailchimp/lists/{mlist.id}/synchronize", headers=HX)
    assert b"Marketing List scheduled to synchronize with MailChimp" in synced.data or \
        synced.status_code == 200
    runs = db.session.scalars(select(JobRun).where(JobRun.kind == "mailchimp_list_sync")).all()
    assert len(runs) == 2
    gone = client.post(f"/mailchimp/lists/{mlist.id}/disconnect", headers=HX)
    assert b"Connect to Mailchimp" in gone.data
    assert db.session.scalar(select(ListConnection.id)) is None


def test_a_viewer_sees_the_status_but_cannot_change_it(client, auth, mailchimp_server):
    _mc, mlist, _rows, _connection = mc_factories.connected(mailchimp_server, size=1)
    auth.login_as(Role.VIEWER)
    page = client.get(f"/marketing-lists/{mlist.id}")
    assert b"Synchronization status: <strong" in page.data
    assert b"mc-disconnect" not in page.data
    assert client.post(f"/mailchimp/lists/{mlist.id}/disconnect", headers=HX).status_code == 403


def test_the_campaign_page_shows_mailchimp_statistics_and_toggles_activities(
        client, auth, mailchimp_server):
    from integrations.mailchimp.integration import client_for
    from integrations.mailchimp.sync import ListSync

    auth.login_as(Role.ADMIN)
    mc, _mlist, rows, connection = mc_factories.connected(mailchimp_server, size=2)
    ListSync(connection, client_for(mc)).run()
    segment = int(audiences.split(connection)[1])
    mc_factories.seed(mailchimp_server, campaigns=[{"id": "c1", "segment_id": segment,
                                                    "title": "Autumn"}],
                      email_activity=[{"campaign_id": "c1", "email_address": rows[0].email,
                                       "activity": [{"action": "open"}]}])
    sync_integration(mc)
    campaign = db.session.scalar(select(EmailCampaign))
    page = client.get(f"/email-campaigns/{campaign.id}")
    assert b"Mailchimp Statistics" in page.data
    assert b'data-stat="opens">1<' in page.data
    assert b"Disable Activities Update" in page.data
    toggled = client.post(f"/mailchimp/email-campaigns/{campaign.id}/activities")
    assert toggled.status_code == 303
    assert db.session.scalar(select(MailchimpCampaign.receive_activities)) is False
    page = client.get(f"/email-campaigns/{campaign.id}")
    assert b"Enable Activities Update" in page.data
    assert client.post("/mailchimp/email-campaigns/999/activities").status_code == 404


def test_choosing_the_mailchimp_transport_says_sending_happens_in_mailchimp(client, auth):
    from tests import factories_lists

    auth.login_as(Role.ADMIN)
    mlist = factories_lists.marketing_list()
    campaign = EmailCampaign(name="Local", marketing_list_id=mlist.id, transport="mailchimp")
    db.session.add(campaign)
    db.session.commit()
    page = client.get(f"/email-campaigns/{campaign.id}")
    assert b"Sending happens in Mailchimp" in page.data
    assert b'data-testid="send"' not in page.data
