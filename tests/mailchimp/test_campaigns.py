"""Campaign, report and activity import from the Mailchimp emulator, over real HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from integrations.mailchimp import audiences
from integrations.mailchimp import campaigns as mc_campaigns
from integrations.mailchimp.integration import client_for
from integrations.mailchimp.integration import sync_integration
from integrations.mailchimp.sync import ListSync
from models.base import utcnow
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.lists import MarketingListItem
from models.lists import MarketingListUnsubscribedItem
from models.mailchimp import MailchimpCampaign
from models.marketing_activity import MarketingActivity
from tests import factories
from tests import factories_mailchimp as mc_factories


def _setup(base: str):
    owner = factories.user(email="owner@example.com")
    mc = mc_factories.integration(base, default_owner_id=owner.id)
    mc, mlist, rows, connection = mc_factories.connected(base, size=3, mc=mc)
    ListSync(connection, client_for(mc)).run()
    segment = audiences.split(connection)[1]
    when = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    sent, later = when.isoformat(), (when + timedelta(minutes=5)).isoformat()
    a, b, c = (r.email for r in rows)
    mc_factories.seed(base, campaigns=[
        {"id": "camp1", "segment_id": int(segment), "title": "Spring news",
         "subject_line": "Hello spring", "from_name": "Acme", "reply_to": "news@acme.test",
         "send_time": sent},
        {"id": "other", "title": "Whole audience", "send_time": sent},
        {"id": "draft", "segment_id": int(segment), "status": "save"},
    ], email_activity=[
        {"campaign_id": "camp1", "email_address": a, "activity": [
            {"action": "open", "timestamp": sent}, {"action": "open", "timestamp": later},
            {"action": "click", "timestamp": sent, "url": "https://acme.test/a"}]},
        {"campaign_id": "camp1", "email_address": b, "activity": [
            {"action": "bounce", "type": "soft", "timestamp": sent}]},
    ], unsubscribes=[{"campaign_id": "camp1", "email_address": c}],
        sent_to=[{"campaign_id": "camp1", "email_address": e} for e in (a, b, c)])
    return mc, mlist, rows


def test_a_campaign_sent_to_the_segment_becomes_an_email_campaign_once(mailchimp_server):
    mc, mlist, _rows = _setup(mailchimp_server)
    sync_integration(mc)
    sync_integration(mc)
    imported = db.session.scalars(select(EmailCampaign)).all()
    assert len(imported) == 1
    campaign = imported[0]
    assert (campaign.name, campaign.transport, campaign.is_sent) == ("Spring news", "mailchimp",
                                                                   True)
    assert (campaign.sender_email, campaign.sender_name) == ("news@acme.test", "Acme")
    assert campaign.owner_id == mc.default_owner_id and campaign.marketing_list_id == mlist.id
    record = db.session.scalar(select(MailchimpCampaign))
    assert record.report["emails_sent"] == 3 and record.report["opens"] == 2
    assert record.report["clicks"] == 1 and record.report["soft_bounces"] == 1
    assert record.report["unsubscribes"] == 1
    assert mc_campaigns.activities_state(record) == "Enabled"


def test_activity_becomes_recipients_and_marketing_activity_idempotently(mailchimp_server):
    mc, _mlist, rows = _setup(mailchimp_server)
    sync_integration(mc)
    campaign = db.session.scalar(select(EmailCampaign))

    def snapshot():
        recipients = {r.email: (r.open_count, r.click_count, r.bounce_count,
                                r.unsubscribe_count)
                      for r in db.session.scalars(select(EmailCampaignRecipient))}
        kinds = dict(db.session.execute(select(MarketingActivity.type, func.count())
                                        .group_by(MarketingActivity.type)).all())
        return recipients, {k.value: v for k, v in kinds.items()}

    recipients, kinds = snapshot()
    a, b, c = (r.email for r in rows)
    assert recipients == {a: (2, 1, 0, 0), b: (0, 0, 1, 0), c: (0, 0, 0, 1)}
    assert kinds == {"send": 3, "open": 2, "click": 1, "soft_bounce": 1, "unsubscribe": 1}
    # Sent counts as contacted, once.
    contacted = dict(db.session.execute(select(MarketingListItem.entity_id,
                                               MarketingListItem.contacted_times)).all())
    assert set(contacted.values()) == {1}
    # The unsubscribe of the campaign opts the member out of the list here too.
    assert db.session.scalar(select(MarketingListUnsubscribedItem.entity_id)) == rows[2].id
    # Re-running (the 10-minute overlap, a retried job) stores nothing twice.
    record = db.session.scalar(select(MailchimpCampaign))
    record.activity_cursor = None
    db.session.commit()
    sync_integration(mc)
    assert snapshot() == (recipients, kinds)
    assert set(dict(db.session.execute(select(MarketingListItem.entity_id,
                                              MarketingListItem.contacted_times)).all())
               .values()) == {1}
    assert campaign.id == db.session.scalar(select(EmailCampaign.id))


def test_disabled_or_expired_activities_are_not_imported(mailchimp_server):
    mc, _mlist, rows = _setup(mailchimp_server)
    sync_integration(mc)
    record = db.session.scalar(select(MailchimpCampaign))
    record.receive_activities = False
    db.session.commit()
    mc_factories.seed(mailchimp_server, email_activity=[
        {"campaign_id": "camp1", "email_address": rows[1].email,
         "activity": [{"action": "open"}]}])
    before = db.session.scalar(select(func.count(MarketingActivity.id)))
    sync_integration(mc)
    assert db.session.scalar(select(func.count(MarketingActivity.id))) == before
    assert mc_campaigns.activities_state(record) == "Disabled"
    record.receive_activities = True
    record.send_time = utcnow() - timedelta(days=91)
    db.session.commit()
    assert mc_campaigns.activities_state(record) == "Expired"
    mc.settings = dict(mc.settings, activity_interval=0)  # Forever
    db.session.commit()
    assert mc_campaigns.activities_state(record) == "Enabled"
    sync_integration(mc)
    assert db.session.scalar(select(func.count(MarketingActivity.id))) == before + 1
