"""The Marketing Activity section of contact and lead pages, loaded into the record's page."""

from __future__ import annotations

from flask import Blueprint
from flask import abort

from extensions import db
from models.email_campaigns import EmailCampaign
from services import activity_section
from services import records
from services import settings
from web.htmx import render

bp = Blueprint("marketing_activity", __name__, url_prefix="/marketing-activity")


def _record(entity: str, record_id: int):
    record_type = records.RECORD_TYPES.get(entity)
    if record_type is None or db.session.get(record_type.model, record_id) is None:
        abort(404)
    return record_type


@bp.get("/<entity>/<int:record_id>")
def entity_section(entity: str, record_id: int):
    record_type = _record(entity, record_id)
    enabled = settings.feature_enabled("marketing_activity")
    rows = activity_section.latest_per_campaign(entity, record_id) if enabled else []
    return render("marketing_activity/section.html", "section", rows=rows, entity=entity,
                  record_id=record_id, rt=record_type, enabled=enabled)


@bp.get("/<entity>/<int:record_id>/<int:email_campaign_id>")
def entity_events(entity: str, record_id: int, email_campaign_id: int):
    _record(entity, record_id)
    campaign = db.session.get(EmailCampaign, email_campaign_id) or abort(404)
    if not settings.feature_enabled("marketing_activity"):
        abort(404)
    return render("marketing_activity/events.html", "events", campaign=campaign,
                  events=activity_section.events(entity, record_id, email_campaign_id))
