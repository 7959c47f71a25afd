"""Housekeeping: fail runs whose worker died, and prune old rows."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete
from sqlalchemy import select

from extensions import db
from jobs.registry import job
from jobs.runner import report
from models.base import utcnow
from models.jobs import JobRun
from models.jobs import JobStatus
from models.users import LoginAttempt

RUN_RETENTION = timedelta(days=90)


def fail_abandoned_runs() -> int:
    """Mark as failed the runs a killed worker left 'running' past their time limit.

    Without this an orphaned run would block its target forever, since only one
    active run per target is allowed.
    """
    now = utcnow()
    limit = timedelta(seconds=current_app.config["JOB_TIMEOUT"] + 300)
    stale = db.session.scalars(select(JobRun).where(
        JobRun.status == JobStatus.RUNNING, JobRun.started_at < now - limit)).all()
    stale += db.session.scalars(select(JobRun).where(
        JobRun.status == JobStatus.QUEUED, JobRun.created_at < now - timedelta(days=1))).all()
    for run in stale:
        run.status = JobStatus.FAILED
        run.error = "abandoned: the worker stopped before the run finished"
        run.finished_at = now
    db.session.commit()
    return len(stale)


@job("maintenance", label="Maintenance")
def maintenance(run: JobRun) -> None:
    failed = fail_abandoned_runs()
    now = utcnow()
    window = timedelta(seconds=current_app.config["LOGIN_THROTTLE_WINDOW_SECONDS"])
    attempts = db.session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - window))
    runs = db.session.execute(delete(JobRun).where(
        JobRun.finished_at < now - RUN_RETENTION, JobRun.id != run.id))
    report(run, phase="done", abandoned_runs=failed, login_attempts_pruned=attempts.rowcount,
           runs_pruned=runs.rowcount)
