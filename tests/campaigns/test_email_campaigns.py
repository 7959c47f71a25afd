"""Email campaigns: form rules, sender fallback, grid, view page and the Send button."""

from sqlalchemy import select

from extensions import db
from models.email_campaigns import EmailCampaign
from models.email_campaigns import Schedule
from models.users import Role
from services import settings
from tests import factories_campaigns as fc
from tests.campaigns.conftest import configure


def _form(mlist, template, user, **overrides):
    data = {"name": "March newsletter", "marketing_list_id": mlist.id, "schedule": "manual",
            "owner_id": user.id, "sender_email": "", "sender_name": "", "campaign_id": "",
            "description": "", "transport": "email", "template_id": template.id}
    data.update(overrides)
    return data


def test_create_email_campaign(client, auth):
    user = auth.login_as(Role.MARKETER)
    mlist, template, campaign = fc.marketing_list(), fc.email_template(), fc.campaign()
    response = client.post("/email-campaigns/new", data=_form(
        mlist, template, user, campaign_id=campaign.id, sender_email="news@example.com"))
    assert response.status_code == 303, response.get_data(as_text=True)
    row = db.session.scalar(select(EmailCampaign))
    assert (row.marketing_list_id, row.template_id, row.campaign_id) == (mlist.id, template.id,
                                                                        campaign.id)
    assert row.sender_email == "news@example.com" and row.schedule is Schedule.MANUAL
    assert not row.is_sent


def test_form_errors(client, auth):
    user = auth.login_as(Role.MARKETER)
    mlist, template = fc.marketing_list(), fc.email_template()
    html = client.post("/email-campaigns/new", data=_form(
        mlist, template, user, name="", schedule="deferred", sender_email="not-an-email",
        template_id="")).get_data(as_text=True)
    assert html.count("This value should not be blank.") >= 3  # name, scheduled for, template
    assert "This value is not a valid email address." in html
    response = client.post("/email-campaigns/new", data=_form(mlist, template, user,
                                                              marketing_list_id=""))
    assert response.status_code == 422
    assert db.session.scalar(select(EmailCampaign)) is None


def test_every_problem_shows_at_once_even_without_a_list(client, auth):
    user = auth.login_as(Role.MARKETER)
    mlist, template = fc.marketing_list(), fc.email_template()
    response = client.post("/email-campaigns/new", data=_form(
        mlist, template, user, marketing_list_id="", schedule="deferred", template_id=""))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # The list, Scheduled For and Template, in one answer rather than one per attempt.
    assert html.count("This value should not be blank.") == 3


def test_a_forged_schedule_is_refused_not_a_server_error(client, auth):
    user = auth.login_as(Role.MARKETER)
    mlist, template = fc.marketing_list(), fc.email_template()
    response = client.post("/email-campaigns/new",
                           data=_form(mlist, template, user, schedule="weekly"))
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(select(EmailCampaign)) is None


def test_a_list_without_an_email_column_is_refused(client, auth):
    user = auth.login_as(Role.MARKETER)
    mlist = fc.marketing_list(columns=[{"field": "phone", "label": "Phone", "sort": ""}])
    response = client.post("/email-campaigns/new", data=_form(mlist, fc.email_template(), user))
    assert response.status_code == 422
    assert "The marketing list has no email column" in response.get_data(as_text=True)


def test_deferred_campaign_keeps_its_time(client, auth):
    user = auth.login_as(Role.MARKETER)
    response = client.post("/email-campaigns/new", data=_form(
        fc.marketing_list(), fc.email_template(), user, schedule="deferred",
        scheduled_for="2030-01-02T03:04"))
    assert response.status_code == 303
    row = db.session.scalar(select(EmailCampaign))
    assert row.schedule is Schedule.DEFERRED
    assert row.scheduled_for.isoformat() == "2030-01-02T03:04:00+00:00"


def test_sender_falls_back_to_the_configuration(client, auth):
    auth.login_as(Role.VIEWER)
    settings.save({"campaign.sender_email": "team@example.org",
                   "campaign.sender_name": "The Team"})
    campaign = fc.email_campaign()
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    assert "team@example.org" in html and "The Team" in html


def test_grid_columns_filters_and_default_sort(client, auth):
    auth.login_as(Role.VIEWER)
    fc.email_campaign(name="Beta", campaign_id=fc.campaign(name="Parent").id)
    fc.email_campaign(name="Alpha", is_sent=True)
    html = client.get("/email-campaigns/").get_data(as_text=True)
    for label in ("Sender Email", "Sender Name", "Campaign", "Marketing List", "Schedule",
                  "Scheduled For", "Sent At", "Created At", "Updated At"):
        assert label in html
    assert html.index(">Alpha<") < html.index(">Beta<")
    html = client.get("/email-campaigns/?f_is_sent=no").get_data(as_text=True)
    assert ">Beta<" in html and ">Alpha<" not in html
    html = client.get("/email-campaigns/?f_campaign_name=par").get_data(as_text=True)
    assert ">Beta<" in html and ">Alpha<" not in html
    html = client.get("/email-campaigns/?sort=campaign_name&dir=desc").get_data(as_text=True)
    assert html.index(">Beta<") < html.index(">Alpha<")


def test_send_button_only_when_settings_are_valid(client, auth, smtp):
    auth.login_as(Role.MARKETER)
    campaign = fc.email_campaign()
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    assert 'data-testid="send"' in html and "Not sent" in html
    settings.save({"general.public_url": ""})
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    assert 'data-testid="send"' not in html and "Set the Application URL" in html
    response = client.post(f"/email-campaigns/{campaign.id}/send", follow_redirects=True)
    assert "Email campaign could not be sent." in response.get_data(as_text=True)
    assert smtp.recipients == []


def test_viewer_sees_no_send_button(client, auth, smtp):
    auth.login_as(Role.VIEWER)
    campaign = fc.email_campaign()
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    assert 'data-testid="send"' not in html
    assert client.post(f"/email-campaigns/{campaign.id}/send").status_code == 403
    assert smtp.recipients == []


def test_recipients_before_sending_exclude_removed_and_unsubscribed(client, auth):
    from services.marketing_lists import sending

    auth.login_as(Role.VIEWER)
    mlist = fc.marketing_list(emails=["keep@example.com", "gone@example.com",
                                      "optout@example.com"])
    ids = [r.entity_id for r in next(sending.iter_sending_set(mlist.id))]
    sending.remove(mlist.id, ids[1])
    sending.unsubscribe(mlist.id, ids[2])
    campaign = fc.email_campaign(mlist)
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    recipients = html.split('id="recipients"')[1]
    assert "keep@example.com" in recipients and "Member0" in recipients
    assert "gone@example.com" not in recipients and "optout@example.com" not in recipients


def test_recipients_grid_counts_every_recipient(client, auth):
    auth.login_as(Role.VIEWER)
    mlist = fc.marketing_list(emails=["a@example.com", "b@example.com", "c@example.com"])
    campaign = fc.email_campaign(mlist)
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    assert "3 records" in html.split('id="recipients"')[1]


def test_configuration_pages_define_sender_and_smtp(client, auth):
    auth.login_as(Role.ADMIN)
    html = client.get("/configuration/email_configuration").get_data(as_text=True)
    assert "Sender Email" in html and "Sender Name" in html
    response = client.post("/configuration/email_configuration", data={
        "campaign.sender_email": "bad", "campaign.sender_name": "X",
        "general.public_url": ""})
    assert response.status_code == 422
    html = client.get("/configuration/smtp").get_data(as_text=True)
    assert "SMTP_PASSWORD" in html and "Host" in html
    configure(2525)
    from services.email_campaigns.config import smtp_config

    assert (smtp_config().host, smtp_config().port) == ("127.0.0.1", 2525)


def test_a_sent_campaign_cannot_be_edited(client, auth):
    user = auth.login_as(Role.MARKETER)
    campaign = fc.email_campaign(is_sent=True)
    response = client.post(f"/email-campaigns/{campaign.id}/edit", data=_form(
        campaign.marketing_list, campaign.template, user, name="Changed"))
    assert response.status_code == 422
    db.session.refresh(campaign)
    assert campaign.name != "Changed"


def test_delete_email_campaign(client, auth):
    auth.login_as(Role.MARKETER)
    campaign = fc.email_campaign()
    client.post(f"/email-campaigns/{campaign.id}/delete")
    assert db.session.scalar(select(EmailCampaign)) is None
