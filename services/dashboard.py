"""Figures for the dashboard home."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from models.campaigns import Campaign
from models.contacts import Contact
from models.jobs import JobRun
from models.lists import MarketingList
from models.tracking import TrackingWebsite
from services import settings

# Areas add (label, model, feature) here as they land; the count is a single query each.
COUNTED: list[tuple[str, type, str | None]] = [
    ("Marketing Lists", MarketingList, "marketing_list"),
    ("Contacts", Contact, None),
    ("Campaigns", Campaign, "campaign"),
    ("Tracking websites", TrackingWebsite, "tracking"),
]


def counts() -> list[tuple[str, int]]:
    return [(label, db.session.scalar(select(func.count()).select_from(model)))
            for label, model, feature in COUNTED
            if feature is None or settings.feature_enabled(feature)]


def latest_runs(limit: int = 10) -> list[JobRun]:
    return list(db.session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(limit)))
