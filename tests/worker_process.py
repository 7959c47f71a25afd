"""A job run in a worker process of its own, SIGKILLed at a chosen point of the run.

No handler, ``finally`` or rollback runs in a SIGKILLed process, as when the OOM killer or
a deploy takes a worker: what it leaves behind is what the next run must converge from.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = """
import sys
from app import create_app
from jobs import runner
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "REDIS_URL": sys.argv[2],
                  "TESTING": True, "SECRET_KEY": sys.argv[3],
                  "ENCRYPTION_KEYS": sys.argv[4].split(",")})
with app.app_context():
    runner.execute(int(sys.argv[5]))
"""


def kill_job_when(app: Flask, database_url: str, redis_url: str, run_id: int,
                  ready: Callable[[], bool], timeout: float = 60) -> None:
    """Execute JobRun ``run_id`` in a new process; SIGKILL it as soon as ``ready()``.

    Fails if the run never gets there, or finishes before it can be killed.
    """
    worker = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, database_url, redis_url, app.config["SECRET_KEY"],
         ",".join(app.config["ENCRYPTION_KEYS"]), str(run_id)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ready():
            time.sleep(0.05)
        assert ready(), "the job never reached the point where it was to be killed"
        assert worker.poll() is None, "the job ended before it could be killed"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
