"""Factories for campaigns, email templates, email campaigns and small marketing lists."""

from __future__ import annotations

import itertools
from datetime import date

from extensions import db
from models.campaigns import Campaign
from models.campaigns import CampaignCodeHistory
from models.contacts import Contact
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailTemplate
from models.lists import ListType
from models.lists import MarketingList
from models.lists import MarketingListItem

_seq = itertools.count(1)


def campaign(name: str | None = None, code: str | None = None, **kwargs) -> Campaign:
    n = next(_seq)
    row = Campaign(name=name or f"Campaign {n}", code=code or f"camp-{n}", **kwargs)
    db.session.add(row)
    db.session.flush()
    db.session.add(CampaignCodeHistory(campaign_id=row.id, code=row.code))
    db.session.commit()
    return row


def marketing_list(size: int = 3, name: str | None = None, columns=None,
                   emails: list[str | None] | None = None, **contact_fields) -> MarketingList:
    """A list of ``size`` contacts (or one per entry of ``emails``), all subscribed."""
    n = next(_seq)
    mlist = MarketingList(name=name or f"List {n}", entity="contact", type=ListType.MANUAL,
                          columns=columns if columns is not None else [
                              {"field": "first_name", "label": "First name", "sort": ""},
                              {"field": "email", "label": "Email", "sort": ""}])
    db.session.add(mlist)
    db.session.flush()
    emails = emails if emails is not None else [f"member{n}-{i}@example.com"
                                                for i in range(size)]
    contacts = [Contact(first_name=f"Member{i}", last_name=f"L{n}", email=email,
                        **contact_fields) for i, email in enumerate(emails)]
    db.session.add_all(contacts)
    db.session.flush()
    db.session.add_all([MarketingListItem(marketing_list_id=mlist.id, entity_id=c.id)
                        for c in contacts])
    db.session.commit()
    return mlist


def email_template(name: str | None = None, subject: str = "Hello {{ first_name }}",
                   html_body: str = '<p>Hi {{ first_name }}, see <a href="https://example.com/'
                                    'offer?a=1&amp;b=2">our offer</a>.</p>',
                   text_body: str = "Hi {{ first_name }}, see https://example.com/offer") \
        -> EmailTemplate:
    row = EmailTemplate(name=name or f"Template {next(_seq)}", subject=subject,
                        html_body=html_body, text_body=text_body)
    db.session.add(row)
    db.session.commit()
    return row


def email_campaign(mlist: MarketingList | None = None, template: EmailTemplate | None = None,
                   **kwargs) -> EmailCampaign:
    row = EmailCampaign(name=kwargs.pop("name", f"Email campaign {next(_seq)}"),
                        marketing_list_id=(mlist or marketing_list()).id,
                        template_id=(template or email_template()).id, **kwargs)
    db.session.add(row)
    db.session.commit()
    return row


def day(text: str) -> date:
    return date.fromisoformat(text)
