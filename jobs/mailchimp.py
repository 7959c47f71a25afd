"""Mailchimp jobs. Each takes ids, is idempotent, and records its work on its JobRun.

Targets make the database refuse a second concurrent run: ``mailchimp:<integration id>``
for audiences and campaign import, ``mailchimp_list:<connection id>`` for one list's sync.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from extensions import db
from integrations.http import ApiError
from integrations.mailchimp import audiences
from integrations.mailchimp import settings as mc_settings
from integrations.mailchimp.integration import TYPE
from integrations.mailchimp.integration import client_for
from integrations.mailchimp.integration import sync_integration
from integrations.mailchimp.sync import ListSync
from integrations.mailchimp.sync import SyncError
from jobs.registry import job
from jobs.runner import JobError
from jobs.runner import enqueue
from jobs.runner import report
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import SyncStatus
from models.jobs import JobRun
from services.integrations import IntegrationError
from services.sync import plan
from services.sync import targets
from services.sync.runs import RunTracker

LIST_SYNC = "mailchimp_list_sync"
INTEGRATION_SYNC = "mailchimp_integration_sync"


integration_target = partial(targets.integration_target, TYPE)
list_target = partial(targets.list_target, TYPE)
_integration = partial(targets.load_integration, TYPE, "Mailchimp")


def start_list_sync(connection: ListConnection, user_id: int | None = None) -> JobRun:
    return enqueue(LIST_SYNC, list_target(connection.id), {"connection_id": connection.id},
                   user_id=user_id)


def start_integration_sync(integration: Integration, user_id: int | None = None,
                           lists: bool = True) -> JobRun:
    return enqueue(INTEGRATION_SYNC, integration_target(integration.id),
                   {"integration_id": integration.id, "lists": lists}, user_id=user_id)


def _active_connections() -> list[ListConnection]:
    return list(db.session.scalars(select(ListConnection).join(
        Integration, Integration.id == ListConnection.integration_id).where(
        ListConnection.integration_type == TYPE, Integration.enabled.is_(True),
        ListConnection.sync_status != SyncStatus.REMOTE_MISSING).order_by(ListConnection.id)))


@job(INTEGRATION_SYNC, queue="sync", label="Mailchimp integration sync")
def integration_sync(run: JobRun, integration_id: int, lists: bool = True) -> None:
    integration = _integration(integration_id)
    if not integration.enabled:
        report(run, phase="Skipped: the integration is inactive")
        return
    tracker = RunTracker(run)
    try:
        sync_integration(integration, tracker)
    except (ApiError, IntegrationError) as exc:
        raise JobError(f"Mailchimp: {exc}") from exc
    if lists:
        connections = [c for c in audiences.connections_of(integration_id)
                       if c.sync_status is not SyncStatus.REMOTE_MISSING]
        tracker.phase("Scheduling list syncs", lists_scheduled=len(connections))
        for connection in connections:
            start_list_sync(connection, run.created_by_id)
    tracker.phase("Done")


@job(LIST_SYNC, queue="sync", label="Mailchimp list sync")
def list_sync(run: JobRun, connection_id: int) -> None:
    connection = db.session.get(ListConnection, connection_id)
    if connection is None or connection.marketing_list is None:
        raise JobError("this list is no longer connected to Mailchimp")
    if not connection.integration.enabled:
        report(run, phase="Skipped: the integration is inactive")
        return
    try:
        client = client_for(connection.integration)
    except IntegrationError as exc:
        raise JobError(str(exc)) from exc
    tracker = RunTracker(run, client)
    try:
        ListSync(connection, client, tracker).run()
    except SyncError as exc:
        tracker.flush()
        raise JobError(str(exc)) from exc
    except ApiError as exc:
        # Keep the calls and retries made: they explain the failure on the run's page.
        db.session.rollback()
        tracker.flush()
        raise JobError(f"Mailchimp: {exc}") from exc
    tracker.phase("Done")


@job("mailchimp_sync_all", queue="sync", label="Mailchimp sync (all integrations)")
def sync_all(run: JobRun) -> None:
    """The 5-minute import: audiences, campaigns and activity of each active integration."""
    integrations = db.session.scalars(select(Integration).where(
        Integration.type == TYPE, Integration.enabled.is_(True))).all()
    for integration in integrations:
        start_integration_sync(integration, lists=False)
    report(run, phase="Done", integrations=len(integrations))


@job("mailchimp_export", queue="sync", label="Mailchimp segment export")
def export_all(run: JobRun) -> None:
    """The 5-minute export (Oro's oro:cron:mailchimp:export): every connected list."""
    connections = _active_connections()
    for connection in connections:
        start_list_sync(connection)
    report(run, phase="Done", lists=len(connections))


@job("mailchimp_export_changed", queue="sync", label="Mailchimp export of changed lists")
def export_changed(run: JobRun) -> None:
    """Every minute, in "On data update" mode: sync the connected lists that changed."""
    if mc_settings.sync_mode() != mc_settings.ON_UPDATE:
        report(run, phase="Skipped: Static Segment Synchronization Mode is Scheduled")
        return
    started = 0
    for connection in _active_connections():
        if connection.sync_status is SyncStatus.FAILED:
            continue  # retried by the 5-minute export, not every minute
        if connection.export_cursor is None or has_changes(connection):
            start_list_sync(connection)
            started += 1
    report(run, phase="Done", lists=started)


def has_changes(connection: ListConnection) -> bool:
    """Whether the plan would send anything: new, changed or departed members."""
    from integrations.mailchimp.sync import MergeColumns
    from services import records

    columns = MergeColumns(connection.marketing_list, records.get(connection.marketing_list
                                                                  .entity))
    batches = plan.iter_export(connection, columns.values_for, connection.marketing_list.entity,
                               batch_size=500)
    return next(batches, None) is not None or bool(plan.removals(connection))
