"""Create, edit, delete and merge marketing campaigns.

A campaign's code is what tracking links carry (``?pk_campaign=<code>``), so every code
a campaign ever had, including those of campaigns merged into it, stays in
``campaign_code_history`` and keeps resolving to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from extensions import db
from models.campaigns import CODE_MAX
from models.campaigns import NAME_MAX
from models.campaigns import Campaign
from models.campaigns import CampaignCodeHistory
from models.campaigns import ReportScale

CODE_PATTERN = re.compile(r"^[a-zA-Z0-9_\-]*$")
CODE_MESSAGE = ("This value should contain only alphabetic symbols, underscore, hyphen and "
                "numbers.")
CODE_TAKEN_MESSAGE = "This value is already used."
DATE_ORDER_MESSAGE = "This date should be earlier than End date"
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN")


class CampaignError(ValueError):
    """A refused change; ``field`` names the form field the message belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class CampaignData:
    name: str
    code: str
    start_date: date | None = None
    end_date: date | None = None
    description: str = ""
    budget: Decimal | None = None
    currency: str = "USD"
    report_scale: ReportScale = ReportScale.DAILY
    owner_id: int | None = None


def validate(data: CampaignData, campaign_id: int | None = None) -> list[CampaignError]:
    errors = []
    if not data.name.strip():
        errors.append(CampaignError("name", "This value should not be blank."))
    elif len(data.name) > NAME_MAX:
        errors.append(CampaignError("name", f"This value is too long. It should have "
                                            f"{NAME_MAX} characters or less."))
    if not data.code:
        errors.append(CampaignError("code", "This value should not be blank."))
    elif len(data.code) > CODE_MAX:
        errors.append(CampaignError("code", f"This value is too long. It should have "
                                            f"{CODE_MAX} characters or less."))
    elif not CODE_PATTERN.match(data.code):
        errors.append(CampaignError("code", CODE_MESSAGE))
    elif code_taken(data.code, campaign_id):
        errors.append(CampaignError("code", CODE_TAKEN_MESSAGE))
    if data.start_date and data.end_date and data.start_date >= data.end_date:
        errors.append(CampaignError("start_date", DATE_ORDER_MESSAGE))
    if data.budget is not None and data.budget < 0:
        errors.append(CampaignError("budget", "This value should be 0 or more."))
    if data.currency not in CURRENCIES:
        errors.append(CampaignError("currency", "The value you selected is not a valid choice."))
    return errors


def code_taken(code: str, campaign_id: int | None = None) -> bool:
    """Whether another campaign has ``code`` now or had it before (history is reserved)."""
    owners = select(Campaign.id).where(Campaign.code == code).union(
        select(CampaignCodeHistory.campaign_id).where(CampaignCodeHistory.code == code))
    return any(owner != campaign_id for owner in db.session.scalars(owners))


def save(campaign: Campaign | None, data: CampaignData) -> Campaign:
    """Create (``campaign`` None) or update a campaign; raises the first CampaignError."""
    errors = validate(data, campaign.id if campaign else None)
    if errors:
        raise errors[0]
    campaign = campaign or Campaign()
    for name, value in vars(data).items():
        setattr(campaign, name, value.strip() if isinstance(value, str) else value)
    db.session.add(campaign)
    try:
        db.session.flush()
        if not db.session.scalar(select(CampaignCodeHistory.id).where(
                CampaignCodeHistory.code == campaign.code)):
            db.session.add(CampaignCodeHistory(campaign_id=campaign.id, code=campaign.code))
        db.session.commit()
    except IntegrityError as exc:
        # Two people saving the same new code at once: the unique keys decide.
        db.session.rollback()
        raise CampaignError("code", CODE_TAKEN_MESSAGE) from exc
    return campaign


def delete_campaigns(ids: list[int]) -> int:
    """Delete campaigns; their codes are freed and their email campaigns kept, unlinked.

    Done explicitly rather than by ON DELETE rules, which SQLite skips unless the
    connection turns foreign keys on.
    """
    from models.email_campaigns import EmailCampaign
    from models.marketing_activity import MarketingActivity

    if not ids:
        return 0
    db.session.execute(update(EmailCampaign).where(EmailCampaign.campaign_id.in_(ids))
                       .values(campaign_id=None))
    db.session.execute(update(MarketingActivity).where(MarketingActivity.campaign_id.in_(ids))
                       .values(campaign_id=None))
    db.session.execute(delete(CampaignCodeHistory).where(CampaignCodeHistory.campaign_id.in_(ids)))
    result = db.session.execute(delete(Campaign).where(Campaign.id.in_(ids)))
    db.session.commit()
    db.session.expire_all()
    return result.rowcount


def merge(master_id: int, other_ids: list[int]) -> Campaign:
    """Keep ``master_id``; the others' codes join its history and their links move to it."""
    from models.email_campaigns import EmailCampaign
    from models.marketing_activity import MarketingActivity

    others = [i for i in dict.fromkeys(other_ids) if i != master_id]
    master = db.session.get(Campaign, master_id)
    if master is None:
        raise CampaignError("master", "Choose the campaign to keep.")
    if not others:
        raise CampaignError("ids", "Select at least two campaigns to merge.")
    found = db.session.scalar(select(func.count()).where(Campaign.id.in_(others)))
    if found != len(others):
        raise CampaignError("ids", "Some of the selected campaigns no longer exist.")
    # Codes saved before the history existed would otherwise be lost with their campaign.
    for campaign in db.session.scalars(select(Campaign).where(Campaign.id.in_(others))):
        if campaign.code not in [h.code for h in campaign.code_history]:
            db.session.add(CampaignCodeHistory(campaign_id=campaign.id, code=campaign.code))
    db.session.flush()
    db.session.execute(update(CampaignCodeHistory).where(
        CampaignCodeHistory.campaign_id.in_(others)).values(campaign_id=master_id))
    db.session.execute(update(EmailCampaign).where(
        EmailCampaign.campaign_id.in_(others)).values(campaign_id=master_id))
    db.session.execute(update(MarketingActivity).where(
        MarketingActivity.campaign_id.in_(others)).values(campaign_id=master_id))
    db.session.execute(delete(Campaign).where(Campaign.id.in_(others)))
    db.session.commit()
    db.session.expire_all()
    return db.session.get(Campaign, master_id)


def codes_of(campaign: Campaign) -> list[str]:
    """The current code first, then every earlier or merged code."""
    history = db.session.scalars(select(CampaignCodeHistory.code).where(
        CampaignCodeHistory.campaign_id == campaign.id).order_by(CampaignCodeHistory.id))
    return list(dict.fromkeys([campaign.code, *history]))


def campaign_for_code(code: str) -> Campaign | None:
    """The campaign a tracked code belongs to, by its current or any earlier code."""
    return db.session.scalar(select(Campaign).outerjoin(CampaignCodeHistory).where(
        or_(Campaign.code == code, CampaignCodeHistory.code == code)).limit(1))
