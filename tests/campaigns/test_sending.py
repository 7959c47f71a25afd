"""Sending over a real SMTP server (aiosmtpd): once per recipient, resumable, reported."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

import jobs
from extensions import db
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.email_campaigns import RecipientStatus
from models.jobs import JobRun
from models.jobs import JobStatus
from models.lists import MarketingList
from models.lists import MarketingListItem
from models.marketing_activity import ActivityType
from models.marketing_activity import MarketingActivity
from models.users import Role
from services.email_campaigns import service
from services.marketing_lists import sending
from tests import factories_campaigns as fc
from tests.campaigns.conftest import PUBLIC_URL
from tests.campaigns.conftest import configure


def _send(campaign) -> JobRun:
    run = service.request_send(campaign)
    db.session.expire_all()
    return db.session.get(JobRun, run.id)


def _statuses(campaign_id: int) -> dict[str, str]:
    rows = db.session.execute(select(EmailCampaignRecipient.email, EmailCampaignRecipient.status)
                              .where(EmailCampaignRecipient.email_campaign_id == campaign_id))
    return {email: status.value for email, status in rows}


def test_send_button_sends_each_member_once_and_marks_sent(client, auth, smtp):
    auth.login_as(Role.MARKETER)
    mlist = fc.marketing_list(size=5)
    campaign = fc.email_campaign(mlist, campaign_id=fc.campaign().id, sender_email="",
                                 sender_name="")
    response = client.post(f"/email-campaigns/{campaign.id}/send")
    assert response.status_code == 303
    db.session.expire_all()
    campaign = db.session.get(EmailCampaign, campaign.id)
    assert campaign.is_sent and campaign.sent_at is not None
    assert sorted(smtp.recipients) == sorted(f"member{_n(mlist)}-{i}@example.com"
                                             for i in range(5))
    run = db.session.scalar(select(JobRun))
    assert run.status is JobStatus.SUCCEEDED and run.counts["sent"] == 5
    items = db.session.scalars(select(MarketingListItem)).all()
    assert all(i.contacted_times == 1 and i.last_contacted_at for i in items)
    assert db.session.get(MarketingList, mlist.id).last_used_at is not None
    sends = db.session.scalars(select(MarketingActivity)).all()
    assert len(sends) == 5 and {a.type for a in sends} == {ActivityType.SEND}
    assert {a.campaign_id for a in sends} == {campaign.campaign_id}
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    assert 'data-testid="send"' not in html and ">Sent<" in html
    # Sending again does nothing: the campaign is sent.
    with pytest.raises(service.EmailCampaignError):
        service.request_send(campaign)
    assert len(smtp.recipients) == 5


def _n(mlist) -> str:
    return mlist.name.split()[-1]


def test_message_content_headers_and_tracking(app, smtp):
    template = fc.email_template(
        subject="Hello {{ first_name }}",
        html_body='<html><body><p>Hi {{ first_name }}</p><a href="https://shop.example/'
                  'x?a=1&amp;b=2">Shop</a> <a href="mailto:help@example.com">Help</a> '
                  '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>')
    mlist = fc.marketing_list(emails=["jo@example.com"])
    campaign = fc.email_campaign(mlist, template, sender_email="news@example.com",
                                 sender_name="News Desk")
    _send(campaign)
    message = smtp.parsed("jo@example.com")
    assert message["Subject"] == "Hello Member0"
    assert message["From"] == "News Desk <news@example.com>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith(f"<{PUBLIC_URL}/e/u/")
    html = message.get_body(("html",)).get_content()
    assert f'href="{PUBLIC_URL}/e/c/' in html and "https://shop.example" not in html
    assert 'href="mailto:help@example.com"' in html
    assert f'<img src="{PUBLIC_URL}/e/o/' in html and html.index("<img") < html.index("</body>")
    assert html.count("/e/u/") == 1  # the unsubscribe link is not click-tracked
    text = message.get_body(("plain",)).get_content()
    assert "Unsubscribe: " + PUBLIC_URL + "/e/u/" in text


def test_unsubscribed_and_removed_members_get_nothing(app, smtp):
    mlist = fc.marketing_list(emails=["a@example.com", "b@example.com", "c@example.com"])
    ids = [r.entity_id for r in next(sending.iter_sending_set(mlist.id))]
    sending.unsubscribe(mlist.id, ids[0])
    sending.remove(mlist.id, ids[1])
    _send(fc.email_campaign(mlist))
    assert smtp.recipients == ["c@example.com"]


def test_smtp_down_fails_visibly_and_a_retry_resumes_without_duplicates(app, smtp):
    mlist = fc.marketing_list(size=6)
    campaign = fc.email_campaign(mlist)
    with socket.socket() as closed:
        # Bound but not listening: connections to it are refused, and no other test's
        # server can take the port meanwhile.
        closed.bind(("127.0.0.1", 0))
        configure(closed.getsockname()[1], **{"smtp.batch_size": 2})
        run = _send(campaign)
    assert run.status is JobStatus.FAILED
    assert "unavailable" in run.error and "retry to resume" in run.error
    assert not db.session.get(EmailCampaign, campaign.id).is_sent
    assert all(s == "queued" for s in _statuses(campaign.id).values())
    # Half-way: the server answers 451 to DATA after three messages.
    configure(smtp.port, **{"smtp.batch_size": 2})
    original = smtp.handle_DATA
    calls = {"n": 0}

    async def flaky(server, session, envelope):
        calls["n"] += 1
        if calls["n"] > 3:
            return "451 4.3.0 Try again later"
        return await original(server, session, envelope)

    smtp.handle_DATA = flaky
    run = _send(campaign)
    assert run.status is JobStatus.FAILED and "451" in run.error
    assert len(smtp.recipients) == 3
    statuses = _statuses(campaign.id)
    assert list(statuses.values()).count("sent") == 3
    assert "sending" not in statuses.values()  # a refusal is certain: nothing in doubt
    smtp.handle_DATA = original
    run = jobs.runner.execute(run.id)  # what RQ does on a retry
    db.session.expire_all()
    assert run == "succeeded"
    assert sorted(smtp.recipients) == sorted(set(smtp.recipients)) and len(smtp.recipients) == 6
    assert db.session.get(EmailCampaign, campaign.id).is_sent
    items = db.session.scalars(select(MarketingListItem)).all()
    assert sorted(i.contacted_times for i in items) == [1] * 6


def test_a_refused_recipient_is_reported_and_the_rest_sent(app, smtp):
    mlist = fc.marketing_list(emails=["ok1@example.com", "nope@example.com", "ok2@example.com"])
    smtp.refuse.add("nope@example.com")
    campaign = fc.email_campaign(mlist)
    run = _send(campaign)
    assert run.status is JobStatus.SUCCEEDED
    assert run.counts == {"sent": 2, "failed": 1, "unconfirmed": 0}
    assert sorted(smtp.recipients) == ["ok1@example.com", "ok2@example.com"]
    row = db.session.scalar(select(EmailCampaignRecipient).where(
        EmailCampaignRecipient.email == "nope@example.com"))
    assert row.status is RecipientStatus.FAILED and "550" in row.error


def test_a_template_error_for_one_recipient_is_reported_and_the_rest_sent(client, auth, smtp):
    auth.login_as(Role.VIEWER)
    template = fc.email_template(subject="{{ 100 // (first_name|length - 7) }}")
    mlist = fc.marketing_list(size=2)  # "Member0", "Member1" are 7 letters: both fail
    db.session.execute(MarketingListItem.__table__.update().values(subscribed=True))
    from models.contacts import Contact

    contact = db.session.scalars(select(Contact).order_by(Contact.id)).first()
    contact.first_name = "Jonathan"
    db.session.commit()
    campaign = fc.email_campaign(mlist, template)
    run = _send(campaign)
    assert run.status is JobStatus.SUCCEEDED and run.counts["failed"] == 1
    assert smtp.recipients == [contact.email]
    html = client.get(f"/email-campaigns/{campaign.id}").get_data(as_text=True)
    assert "ZeroDivisionError" in html and "Failed" in html


def test_a_campaign_without_recipients_fails_clearly(app, smtp):
    mlist = fc.marketing_list(size=0)
    campaign = fc.email_campaign(mlist)
    run = _send(campaign)
    assert run.status is JobStatus.FAILED and run.error.startswith("No recipients")
    assert not db.session.get(EmailCampaign, campaign.id).is_sent


def test_members_without_a_usable_email_are_skipped(app, smtp):
    mlist = fc.marketing_list(emails=["good@example.com", None, "not-an-email"])
    _send(fc.email_campaign(mlist))
    assert smtp.recipients == ["good@example.com"]


def test_deferred_campaigns_go_out_through_the_cron_once_due(app, smtp):
    from datetime import timedelta

    from models.base import utcnow
    from models.email_campaigns import Schedule

    due = fc.email_campaign(fc.marketing_list(emails=["due@example.com"]),
                            schedule=Schedule.DEFERRED, scheduled_for=utcnow() - timedelta(1))
    later = fc.email_campaign(fc.marketing_list(emails=["later@example.com"]),
                              schedule=Schedule.DEFERRED,
                              scheduled_for=utcnow() + timedelta(hours=1))
    assert jobs.runner.run_scheduled("email_campaigns_deferred") == "succeeded"
    db.session.expire_all()
    assert smtp.recipients == ["due@example.com"]
    assert db.session.get(EmailCampaign, due.id).is_sent
    assert not db.session.get(EmailCampaign, later.id).is_sent
    jobs.runner.run_scheduled("email_campaigns_deferred")
    assert smtp.recipients == ["due@example.com"]


@pytest.mark.redis
def test_send_on_a_real_rq_worker(redis_app, smtp):
    from rq import SimpleWorker

    from jobs import queue

    mlist = fc.marketing_list(size=4)
    campaign = fc.email_campaign(mlist)
    run = service.request_send(campaign)
    assert run.status is JobStatus.QUEUED and run.rq_job_id
    SimpleWorker(["email"], connection=queue.get_redis()).work(burst=True)
    db.session.expire_all()
    assert db.session.get(JobRun, run.id).status is JobStatus.SUCCEEDED
    assert len(smtp.recipients) == 4 and db.session.get(EmailCampaign, campaign.id).is_sent
