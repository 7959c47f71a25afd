"""The cron table, as data, and its registration on RQ's CronScheduler.

Each entry names a job kind from the registry; the scheduler enqueues
``jobs.runner.run_scheduled(kind)``, which creates the JobRun (or skips when one is
already active), so the UI shows periodic work like any other run.
"""

from __future__ import annotations

from dataclasses import dataclass

from rq.cron import CronScheduler

from jobs.registry import registry


@dataclass(frozen=True)
class Scheduled:
    kind: str
    cron: str  # standard five-field cron expression, UTC
    queue: str = "default"


# Later areas append their periodic work here (e.g. deferred email campaigns, syncs).
SCHEDULE: list[Scheduled] = [
    Scheduled("maintenance", "17 3 * * *"),
    # Deferred email campaigns go out within a minute of their Scheduled For.
    Scheduled("email_campaigns_deferred", "*/1 * * * *"),
    # Tracking: drains run every 5 minutes and skip until the Log Rotation Interval passed.
    Scheduled("tracking_drain", "*/5 * * * *"),
    Scheduled("tracking_aggregate", "1 0 * * *"),
    # Dotdigital: integration + list syncs, import status, daily forced field sync.
    Scheduled("dotdigital_sync_all", "*/5 * * * *", queue="sync"),
    Scheduled("dotdigital_export_status", "*/5 * * * *", queue="sync"),
    Scheduled("dotdigital_force_fields_sync", "0 1 * * *", queue="sync"),
    # Dotdigital campaigns, summaries, activities, opens and clicks (issue 7).
    Scheduled("dotdigital_campaigns_all", "*/5 * * * *", queue="sync"),
    # Mailchimp: imports, segment export (oro:cron:mailchimp:export), "On data update".
    Scheduled("mailchimp_sync_all", "*/5 * * * *", queue="sync"),
    Scheduled("mailchimp_export", "*/5 * * * *", queue="sync"),
    Scheduled("mailchimp_export_changed", "*/1 * * * *", queue="sync"),
]


def register_schedule(scheduler: CronScheduler, schedule: list[Scheduled] | None = None) -> int:
    """Register every entry once; returns how many were added.

    Registering again (a restart of the scheduler code path, or a second call) adds
    nothing: entries are keyed by kind.
    """
    from jobs.runner import run_scheduled

    known = {cron_job.name for cron_job in scheduler.get_jobs()}
    added = 0
    for entry in schedule if schedule is not None else SCHEDULE:
        if entry.kind not in registry:
            raise KeyError(f"schedule names unknown job kind {entry.kind!r}")
        name = f"listbridge:{entry.kind}"
        if name in known:
            continue
        scheduler.register(run_scheduled, queue_name=entry.queue, args=(entry.kind,),
                           cron=entry.cron, name=name, job_timeout=registry[entry.kind].timeout)
        known.add(name)
        added += 1
    return added
