"""Tracking jobs: drain the hit stream, forward to Matomo, build the nightly summary."""

from __future__ import annotations

import time

from jobs.queue import get_redis
from jobs.registry import job
from jobs.runner import JobError
from jobs.runner import report
from models.jobs import JobRun
from services import settings
from services.tracking import aggregation
from services.tracking import config
from services.tracking import forward
from services.tracking import ingest

LAST_DRAIN = "listbridge:tracking:last_drain"
# The schedule fires every 5 minutes; the Log Rotation Interval decides which runs drain.
DRAIN_TICK_SECONDS = 300


@job("tracking_drain", label="Process tracking hits")
def tracking_drain(run: JobRun, force: bool = False) -> None:
    redis = get_redis()
    if redis is None:
        # Embedded mode writes hits as they arrive; only forwarding may be left to do.
        report(run, phase="done: hits are written as they arrive")
        if settings.get(config.PIWIK_HOST):
            tracking_forward(run)
        return
    interval = config.rotation_minutes() * 60
    last = float(redis.get(LAST_DRAIN) or 0)
    # A little slack so a run of the 5-minute tick that is a few seconds early still drains.
    if not force and time.time() - last < interval - 30:
        report(run, phase="skipped: next drain on the Log Rotation Interval")
        return
    report(run, phase="draining", pending=ingest.pending_count())
    read, stored = ingest.drain(on_batch=lambda r, s: report(run, progress=r, read=r, stored=s))
    redis.set(LAST_DRAIN, time.time())
    report(run, phase="done", read=read, stored=stored)
    if settings.get(config.PIWIK_HOST):
        tracking_forward(run)


@job("tracking_forward", label="Forward tracking hits to Matomo")
def tracking_forward(run: JobRun) -> None:
    sent = 0
    while True:
        try:
            batch = forward.forward_batch()
        except forward.ForwardError as exc:
            report(run, forwarded=sent)
            raise JobError(str(exc)) from exc
        if not batch:
            break
        sent += batch
        report(run, phase="forwarding", forwarded=sent)
    report(run, phase="done", forwarded=sent)


@job("tracking_aggregate", label="Tracking statistics aggregation")
def tracking_aggregate(run: JobRun) -> None:
    if not settings.get(config.AGGREGATION):
        report(run, phase="skipped: Enable Tracking Statistics Aggregation is off")
        return
    written = aggregation.run_nightly()
    report(run, phase="done", summary_rows=written)
