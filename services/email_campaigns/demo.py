"""Demo data: three marketing campaigns (codes the tracking demo uses), a template and an
email campaign ready to send to the demo SMTP server (aiosmtpd in the Procfiles)."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy import select

import services.marketing_lists.demo  # noqa: F401 - its seeder registers (and runs) first
from demo import seeder
from extensions import db
from models.campaigns import Campaign
from models.campaigns import ReportScale
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailTemplate
from models.lists import MarketingList
from services import settings
from services.campaigns import service as campaigns
from services.email_campaigns import service as email_campaigns
from services.email_campaigns import templates

HTML = """<html><body>
<h1>Hello {{ first_name or "there" }},</h1>
<p>Our November picks are in. <a href="https://example.com/november">See what is new</a>.</p>
<p><small>You receive this as a member of our newsletter.
<a href="{{ unsubscribe_url }}">Unsubscribe</a></small></p>
</body></html>"""
TEXT = "Hello {{ first_name or 'there' }},\n\nOur November picks: https://example.com/november\n"


@seeder
def seed_campaigns() -> str | None:
    if db.session.scalar(select(func.count()).select_from(Campaign)):
        return None
    if not settings.get("general.public_url"):
        # Links in demo mail point at the local server `make run` starts.
        settings.save({"general.public_url": f"http://127.0.0.1:{os.environ.get('PORT', 5000)}"})
    made = [campaigns.save(None, campaigns.CampaignData(
        name=name, code=code, start_date=start, end_date=end, budget=budget, currency=currency,
        report_scale=scale, description=description))
        for name, code, start, end, budget, currency, scale, description in (
            ("Spring Sale", "spring-sale", date(2026, 3, 1), date(2026, 4, 30),
             Decimal("5000"), "EUR", ReportScale.DAILY, "Seasonal discounts, web and email."),
            ("November Newsletter", "newsletter-11", date(2026, 11, 1), None, Decimal("800"),
             "USD", ReportScale.MONTHLY, "The monthly newsletter."),
            ("Autumn Webinar", "webinar-autumn", None, None, None, "USD", ReportScale.HOURLY,
             ""))]
    template = db.session.scalar(select(EmailTemplate).where(
        EmailTemplate.name == "Monthly newsletter")) or templates.save(
        None, name="Monthly newsletter", subject="{{ first_name or 'Hello' }}, our November picks",
        html_body=HTML, text_body=TEXT)
    mlist = db.session.scalar(select(MarketingList).where(MarketingList.entity == "contact")
                              .order_by(MarketingList.id))
    if mlist is not None and not db.session.scalar(select(func.count()).select_from(
            EmailCampaign)):
        email_campaigns.save(None, email_campaigns.EmailCampaignData(
            name="November newsletter", marketing_list_id=mlist.id, campaign_id=made[1].id,
            template_id=template.id, description="Press Send: the demo SMTP server prints it."))
    return "3 campaigns, an email template and an email campaign"
