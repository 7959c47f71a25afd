"""Forwarding hits to a Matomo (Piwik) server: the outbox, sent in bulk with the token."""

from __future__ import annotations

import requests
from flask import current_app
from sqlalchemy import delete
from sqlalchemy import select

from extensions import db
from models.tracking import TrackingOutbox
from models.tracking import TrackingWebsite
from services import settings
from services.tracking import config

BATCH = 100


class ForwardError(RuntimeError):
    """The Matomo server refused or could not be reached; rows stay in the outbox."""


def forward_batch(session: requests.Session | None = None) -> int:
    """Send up to BATCH outbox rows; delete them once Matomo accepted. Returns rows sent."""
    host = (settings.get(config.PIWIK_HOST) or "").strip().rstrip("/")
    if not host:
        return 0
    rows = db.session.execute(
        select(TrackingOutbox.id, TrackingOutbox.query, TrackingWebsite.identifier)
        .join(TrackingWebsite, TrackingWebsite.id == TrackingOutbox.website_id)
        .order_by(TrackingOutbox.id).limit(BATCH)).all()
    if not rows:
        return 0
    token = config.piwik_token()
    payload = {"requests": [f"?{query}" for _, query, _ in rows]}
    if token:
        payload["token_auth"] = token
    url = host if host.endswith(".php") else f"{host}/matomo.php"
    try:
        response = (session or requests).post(url, json=payload,
                                               timeout=current_app.config["HTTP_TIMEOUT"])
    except requests.RequestException as exc:
        raise ForwardError(f"Matomo at {host} unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        raise ForwardError(f"Matomo at {host} answered {response.status_code}")
    db.session.execute(delete(TrackingOutbox).where(
        TrackingOutbox.id.in_([row_id for row_id, _, _ in rows])))
    db.session.commit()
    return len(rows)
