"""`flask worker` and `flask scheduler`: RQ processes inside the app context."""

from __future__ import annotations

import logging
import time

import click
from flask import Flask
from flask import current_app
from flask.cli import with_appcontext
from rq import Worker
from rq.cron import CronScheduler

from jobs.queue import get_redis
from jobs.schedule import register_schedule

LEADER_KEY = "listbridge:scheduler:leader"
LEADER_TTL = 90


@click.command("worker")
@click.option("--queues", default="", help="Comma-separated queues (default: all).")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@with_appcontext
def worker_command(queues: str, burst: bool) -> None:
    """Run an RQ worker for this app's queues."""
    redis = get_redis()
    if redis is None:
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, no worker needed")
    names = [q for q in queues.split(",") if q] or current_app.config["RQ_QUEUES"]
    Worker(names, connection=redis).work(burst=burst, with_scheduler=False)


class LeaderCronScheduler(CronScheduler):
    """A CronScheduler that enqueues only while it holds the leader key.

    A second scheduler (a restart overlapping the old process, or one per machine by
    mistake) waits instead of enqueueing every job twice.
    """

    def enqueue_jobs(self):
        if not self.connection.set(LEADER_KEY, self.name, nx=True, ex=LEADER_TTL):
            if self.connection.get(LEADER_KEY) != self.name.encode():
                return []
            self.connection.expire(LEADER_KEY, LEADER_TTL)
        return super().enqueue_jobs()

    def register_death(self, pipeline=None):
        if self.connection.get(LEADER_KEY) == self.name.encode():
            self.connection.delete(LEADER_KEY)
        super().register_death(pipeline)


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run RQ's CronScheduler over the cron table in jobs/schedule.py.

    Without REDIS_URL (the embedded mode) the same table runs in this process instead, so
    deferred campaigns and periodic syncs still happen on a laptop.
    """
    redis = get_redis()
    if redis is None:
        click.echo("scheduler: no REDIS_URL, running the cron table in-process")
        run_embedded_schedule()
        return
    scheduler = LeaderCronScheduler(connection=redis, logging_level=logging.INFO)
    count = register_schedule(scheduler)
    click.echo(f"scheduler: {count} periodic jobs registered")
    while True:
        try:
            scheduler.start()
            return
        except ConnectionError:  # Redis restarting: retry rather than die silently
            time.sleep(5)


def run_embedded_schedule(stop_after: int | None = None) -> None:
    """Fire each SCHEDULE entry when its cron expression comes due, in this process."""
    from croniter import croniter

    from jobs.runner import run_scheduled
    from jobs.schedule import SCHEDULE
    from models.base import utcnow

    start = utcnow()
    due = {entry.kind: croniter(entry.cron, start).get_next(type(start)) for entry in SCHEDULE}
    fired = 0
    while stop_after is None or fired < stop_after:
        now = utcnow()
        for entry in SCHEDULE:
            if due[entry.kind] <= now:
                logging.getLogger(__name__).info("scheduler: running %s", entry.kind)
                run_scheduled(entry.kind)
                fired += 1
                due[entry.kind] = croniter(entry.cron, utcnow()).get_next(type(start))
        time.sleep(max(0.0, min((min(due.values()) - utcnow()).total_seconds(), 30.0)))


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)
