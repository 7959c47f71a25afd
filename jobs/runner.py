"""Create JobRun rows, hand them to RQ (or run them in-process), and execute them."""

from __future__ import annotations

import logging
import threading
import time
import traceback

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from extensions import db
from jobs.queue import get_queue
from jobs.queue import get_redis
from jobs.registry import registry
from models.base import utcnow
from models.jobs import JobRun
from models.jobs import JobStatus

log = logging.getLogger(__name__)


class JobError(RuntimeError):
    """A job failed with a message meant for the user (shown on the run)."""


def active_run(kind: str, target: str = "") -> JobRun | None:
    return db.session.scalar(
        select(JobRun).where(JobRun.kind == kind, JobRun.target == target,
                             JobRun.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])))


def enqueue(kind: str, target: str = "", params: dict | None = None,
            user_id: int | None = None) -> JobRun:
    """Start a job of ``kind`` on ``target``, or return the run already under way.

    A second click, a second scheduler or a second web process all land on the same
    active run: the partial unique index on job_runs makes it so.
    """
    spec = registry[kind]
    existing = active_run(kind, target)
    if existing:
        return existing
    run = JobRun(kind=kind, target=target, params=params or {}, created_by_id=user_id)
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = active_run(kind, target)
        if existing:
            return existing
        raise
    _dispatch(run, spec)
    return run


def _dispatch(run: JobRun, spec) -> None:
    app = current_app._get_current_object()
    if get_redis() is not None:
        rq_job = get_queue(spec.queue).enqueue(
            "jobs.runner.execute", run.id,
            job_timeout=spec.timeout or app.config["JOB_TIMEOUT"],
            result_ttl=3600, failure_ttl=7 * 86400,
            description=f"{spec.kind} {run.target}".strip())
        run.rq_job_id = rq_job.id
        db.session.commit()
    elif app.config["JOBS_IN_PROCESS_MODE"] == "sync":
        execute(run.id)
    else:
        run_id = run.id

        def target():
            with app.app_context():
                execute(run_id)

        threading.Thread(target=target, name=f"job-{run_id}", daemon=True).start()


def report(run: JobRun, *, phase: str | None = None, progress: int | None = None,
           total: int | None = None, counts: dict | None = None, **count_updates: int) -> None:
    """Record a job's progress and commit, so the UI's progress fragment sees it."""
    if phase is not None:
        run.phase = phase
    if progress is not None:
        run.progress = progress
    if total is not None:
        run.total = total
    if counts is not None or count_updates:
        merged = dict(run.counts or {})
        merged.update(counts or {})
        merged.update(count_updates)
        run.counts = merged  # reassign: JSON columns track replacement, not mutation
    db.session.commit()


def execute(run_id: int) -> str:
    """Run one JobRun. This is the RQ entry point; it takes only the run's id."""
    if get_redis() is not None:
        # A forked RQ work-horse must not reuse the parent's pooled connections.
        db.engine.dispose(close=False)
    run = db.session.get(JobRun, run_id)
    if run is None:
        log.warning("task=execute state=missing run_id=%s", run_id)
        return "missing"
    if run.status is JobStatus.SUCCEEDED:
        return "already succeeded"
    spec = registry[run.kind]
    # A FAILED run may run again: that is how an RQ retry resumes the work (jobs are
    # idempotent). Unless another run of the same target became active meanwhile.
    run.status = JobStatus.RUNNING
    run.attempts += 1
    run.started_at = run.started_at or utcnow()
    run.error = None
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        log.info("task=%s state=superseded run_id=%s", run.kind, run_id)
        return "superseded"
    started = time.monotonic()
    log.info("task=%s state=start run_id=%s target=%s", run.kind, run.id, run.target)
    try:
        spec.func(run, **(run.params or {}))
    except Exception as exc:
        db.session.rollback()
        run = db.session.get(JobRun, run_id)
        run.status = JobStatus.FAILED
        run.error = str(exc) if isinstance(exc, JobError) else _describe(exc)
        run.finished_at = utcnow()
        db.session.commit()
        log.error("task=%s state=failed run_id=%s runtime=%.2f\n%s", run.kind, run_id,
                  time.monotonic() - started, traceback.format_exc())
        if get_redis() is not None:
            raise
        return "failed"
    run.status = JobStatus.SUCCEEDED
    run.finished_at = utcnow()
    db.session.commit()
    log.info("task=%s state=done run_id=%s runtime=%.2f", run.kind, run_id,
             time.monotonic() - started)
    return "succeeded"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def run_scheduled(kind: str) -> str:
    """Entry point of the cron table: start ``kind`` unless it is already running."""
    if get_redis() is not None:
        db.engine.dispose(close=False)
    if active_run(kind):
        return "skipped: already running"
    run = JobRun(kind=kind, target="", params={})
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return "skipped: already running"
    return execute(run.id)
