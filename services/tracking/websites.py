"""Creating, changing and deleting tracking websites."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from models.tracking import TrackingEvent
from models.tracking import TrackingEventSummary
from models.tracking import TrackingOutbox
from models.tracking import TrackingVisit
from models.tracking import TrackingWebsite
from services.tracking import sites


class WebsiteError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class WebsiteData:
    name: str
    identifier: str
    url: str
    description: str = ""
    owner_id: int | None = None


def save(website: TrackingWebsite | None, data: WebsiteData) -> TrackingWebsite:
    clash = db.session.scalar(select(TrackingWebsite.id).where(
        func.lower(TrackingWebsite.identifier) == data.identifier.lower()))
    if clash is not None and (website is None or clash != website.id):
        raise WebsiteError("identifier", "This value is already used.")
    old_identifier = website.identifier if website else None
    if website is None:
        website = TrackingWebsite()
        db.session.add(website)
    website.name = data.name
    website.identifier = data.identifier
    website.url = data.url
    website.description = data.description
    website.owner_id = data.owner_id
    db.session.commit()
    sites.forget(data.identifier, *(filter(None, [old_identifier])))
    return website


def delete_website(website: TrackingWebsite) -> None:
    """Delete the site with its events, visits and summaries (SQLite ignores CASCADE)."""
    site_id, identifier = website.id, website.identifier
    for model in (TrackingEvent, TrackingVisit, TrackingEventSummary, TrackingOutbox):
        db.session.execute(delete(model).where(model.website_id == site_id))
    db.session.delete(website)
    db.session.commit()
    sites.forget(identifier)
