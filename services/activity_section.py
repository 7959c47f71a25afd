"""The "Marketing Activity" section of a record's page (features.md §8).

One row per email campaign that reached the record, with its latest activity, expandable
to that campaign's events. Reads MarketingActivity (written by services.marketing_activity).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from models.campaigns import Campaign
from models.email_campaigns import EmailCampaign
from models.marketing_activity import MarketingActivity

A = MarketingActivity
EVENTS_LIMIT = 200


def latest_per_campaign(entity_type: str, entity_id: int) -> list:
    """(email_campaign_id, name, campaign_id, campaign name, latest type, its date, events)."""
    ranked = select(
        A.email_campaign_id, A.type, A.action_date,
        func.row_number().over(partition_by=A.email_campaign_id,
                               order_by=(A.action_date.desc(), A.id.desc())).label("rank"),
        func.count().over(partition_by=A.email_campaign_id).label("events"),
    ).where(A.entity_type == entity_type, A.entity_id == entity_id,
            A.email_campaign_id.is_not(None)).subquery()
    return db.session.execute(
        select(ranked.c.email_campaign_id, EmailCampaign.name, EmailCampaign.campaign_id,
               Campaign.name.label("campaign_name"), ranked.c.type, ranked.c.action_date,
               ranked.c.events)
        .join(EmailCampaign, EmailCampaign.id == ranked.c.email_campaign_id)
        .outerjoin(Campaign, Campaign.id == EmailCampaign.campaign_id)
        .where(ranked.c.rank == 1).order_by(ranked.c.action_date.desc())).all()


def events(entity_type: str, entity_id: int, email_campaign_id: int) -> list[MarketingActivity]:
    return list(db.session.scalars(select(A).where(
        A.entity_type == entity_type, A.entity_id == entity_id,
        A.email_campaign_id == email_campaign_id)
        .order_by(A.action_date.desc(), A.id.desc()).limit(EVENTS_LIMIT)))
