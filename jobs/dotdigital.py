"""Dotdigital jobs. Each takes ids, is idempotent, and records its work on its JobRun.

Targets make the database refuse a second concurrent run: ``dotdigital:<integration id>``
for integration-wide work, ``dotdigital_list:<connection id>`` for one list's sync.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from extensions import db
from integrations.dotdigital import fields as data_fields
from integrations.dotdigital import settings as dd_settings
from integrations.dotdigital.sync import ListSync
from integrations.dotdigital.sync import SyncError
from integrations.dotdigital.sync import client_for
from integrations.dotdigital.sync import sync_integration
from integrations.http import ApiError
from jobs.registry import job
from jobs.runner import JobError
from jobs.runner import enqueue
from jobs.runner import report
from models.integrations import FieldMapping
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import RemoteImport
from models.integrations import SyncStatus
from models.jobs import JobRun
from models.lists import MarketingList
from services.sync import targets
from services.sync.runs import RunTracker

TYPE = "dotdigital"
LIST_SYNC = "dotdigital_list_sync"
INTEGRATION_SYNC = "dotdigital_integration_sync"


integration_target = partial(targets.integration_target, TYPE)
list_target = partial(targets.list_target, TYPE)
_integration = partial(targets.load_integration, TYPE, "dotdigital")


def _connections(integration_id: int) -> list[ListConnection]:
    return list(db.session.scalars(select(ListConnection).join(
        MarketingList, MarketingList.id == ListConnection.marketing_list_id).where(
        ListConnection.integration_id == integration_id,
        ListConnection.sync_status != SyncStatus.REMOTE_MISSING).order_by(ListConnection.id)))


def start_list_sync(connection: ListConnection, user_id: int | None = None,
                    mode: str = "full") -> JobRun:
    return enqueue(LIST_SYNC, list_target(connection.id),
                   {"connection_id": connection.id, "mode": mode}, user_id=user_id)


def start_integration_sync(integration: Integration, user_id: int | None = None,
                           force_fields: bool = False, lists: bool = True) -> JobRun:
    return enqueue(INTEGRATION_SYNC, integration_target(integration.id),
                   {"integration_id": integration.id, "force_fields": force_fields,
                    "lists": lists}, user_id=user_id)


@job(INTEGRATION_SYNC, queue="sync", label="dotdigital integration sync")
def integration_sync(run: JobRun, integration_id: int, force_fields: bool = False,
                     lists: bool = True) -> None:
    integration = _integration(integration_id)
    if not integration.enabled:
        report(run, phase="Skipped: the integration is inactive")
        return
    tracker = RunTracker(run)
    try:
        sync_integration(integration, tracker, force_fields=force_fields)
    except ApiError as exc:
        raise JobError(f"dotdigital: {exc}") from exc
    if lists:
        connections = _connections(integration_id)
        tracker.phase("Scheduling list syncs", lists_scheduled=len(connections))
        for connection in connections:
            start_list_sync(connection, run.created_by_id)
        # Then campaigns and statistics (a run of its own: jobs.dotdigital_campaigns).
        dotdigital_campaigns.start_import(integration, run.created_by_id)
    tracker.phase("Done")


@job(LIST_SYNC, queue="sync", label="dotdigital list sync")
def list_sync(run: JobRun, connection_id: int, mode: str = "full") -> None:
    connection = db.session.get(ListConnection, connection_id)
    if connection is None or connection.marketing_list is None:
        raise JobError("this list is no longer connected to dotdigital")
    if not connection.integration.enabled:
        report(run, phase="Skipped: the integration is inactive")
        return
    client = client_for(connection.integration)
    tracker = RunTracker(run, client)
    try:
        ListSync(connection, client, tracker).run(mode)
    except SyncError as exc:
        tracker.flush()
        raise JobError(str(exc)) from exc
    except ApiError as exc:
        # Keep the calls and retries made: they explain the failure on the run's page.
        db.session.rollback()
        tracker.flush()
        raise JobError(f"dotdigital: {exc}") from exc
    tracker.phase("Done")


@job("dotdigital_sync_all", queue="sync", label="dotdigital sync (all integrations)")
def sync_all(run: JobRun) -> None:
    """The 5-minute cron entry: one integration sync per active integration."""
    integrations = db.session.scalars(select(Integration).where(
        Integration.type == TYPE, Integration.enabled.is_(True))).all()
    for integration in integrations:
        start_integration_sync(integration)
    report(run, phase="Done", integrations=len(integrations))


@job("dotdigital_export_status", queue="sync", label="dotdigital export status")
def export_status(run: JobRun) -> None:
    """The 5-minute cron entry: settle imports left in flight, one list run per connection."""
    connection_ids = db.session.scalars(select(RemoteImport.connection_id).where(
        RemoteImport.done.is_(False)).distinct()).all()
    started = 0
    for connection_id in connection_ids:
        connection = db.session.get(ListConnection, connection_id)
        if connection is not None and connection.integration.enabled:
            start_list_sync(connection, mode="status")
            started += 1
    report(run, phase="Done", lists=started)


@job("dotdigital_force_fields_sync", queue="sync",
     label="dotdigital daily force sync of mapped data fields")
def force_fields_sync(run: JobRun) -> None:
    """Daily: flag members whose mapped values can change unseen (virtual fields) or all."""
    mode = dd_settings.force_sync_mode()
    flagged = 0
    if mode != dd_settings.FORCE_NONE:
        mappings = db.session.scalars(select(FieldMapping).join(
            Integration, Integration.id == FieldMapping.integration_id).where(
            Integration.type == TYPE, Integration.enabled.is_(True))).all()
        for mapping in mappings:
            if mode == dd_settings.FORCE_ALL or data_fields.has_virtual_fields(mapping):
                flagged += data_fields.mark_for_export(mapping.integration_id, mapping.entity)
        db.session.commit()
    report(run, phase=f"Done ({mode})", flagged=flagged)


# Campaign and statistics import: its own module, registered with these job kinds.
from jobs import dotdigital_campaigns  # noqa: E402
