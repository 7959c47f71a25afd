"""Dotdigital campaign and statistics import. Takes ids, is idempotent (see
integrations.dotdigital.campaigns), one run per integration at a time
(target ``dotdigital_campaigns:<integration id>``).
"""

from __future__ import annotations

from sqlalchemy import select

from extensions import db
from integrations.dotdigital import campaigns
from integrations.dotdigital.sync import client_for
from integrations.dotdigital.sync import remember_rate
from integrations.http import ApiError
from jobs.registry import job
from jobs.runner import JobError
from jobs.runner import enqueue
from jobs.runner import report
from models.integrations import Integration
from models.jobs import JobRun
from services.sync.runs import RunTracker

IMPORT = "dotdigital_campaign_import"


def target(integration_id: int) -> str:
    return f"dotdigital_campaigns:{integration_id}"


def start_import(integration: Integration, user_id: int | None = None) -> JobRun:
    return enqueue(IMPORT, target(integration.id), {"integration_id": integration.id},
                   user_id=user_id)


@job(IMPORT, queue="sync", label="dotdigital campaign and statistics import")
def campaign_import(run: JobRun, integration_id: int) -> None:
    integration = db.session.get(Integration, integration_id)
    if integration is None or integration.type != campaigns.TRANSPORT:
        raise JobError(f"dotdigital integration {integration_id} no longer exists")
    if not integration.enabled:
        report(run, phase="Skipped: the integration is inactive")
        return
    client = client_for(integration)
    tracker = RunTracker(run, client)
    try:
        tracker.phase("Connecting")
        client.discover()
        campaigns.import_all(client, integration, tracker)
    except ApiError as exc:
        db.session.rollback()
        tracker.flush()
        raise JobError(f"dotdigital: {exc}") from exc
    finally:
        remember_rate(integration, client)
        db.session.commit()
    tracker.phase("Done")


@job("dotdigital_campaigns_all", queue="sync",
     label="dotdigital campaign import (all integrations)")
def import_all(run: JobRun) -> None:
    """The 5-minute cron entry: one campaign import per active integration."""
    integrations = db.session.scalars(select(Integration).where(
        Integration.type == campaigns.TRANSPORT, Integration.enabled.is_(True))).all()
    for integration in integrations:
        start_import(integration)
    report(run, phase="Done", integrations=len(integrations))
