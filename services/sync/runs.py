"""Bookkeeping of a sync run on its JobRun: phase, counts, API calls made, errors.

Every ``report`` commits, so the run's progress fragment shows the run live. Counts add
up across phases; ``calls`` is the client's counter (retries included).
"""

from __future__ import annotations

from jobs.runner import report
from models.jobs import JobRun

MAX_ERRORS_KEPT = 20


class RunTracker:
    def __init__(self, run: JobRun | None, client=None):
        self.run = run
        self.client = client
        self.counts: dict[str, int] = dict(run.counts or {}) if run is not None else {}
        self.errors: list[str] = []

    def _calls(self) -> dict[str, int]:
        if self.client is None:
            return {}
        return {"calls": self.client.calls, "retries": self.client.retries}

    def phase(self, name: str, **counts: int) -> None:
        self.add(**counts)
        if self.run is not None:
            report(self.run, phase=name, counts=self.counts | self._calls())

    def add(self, **counts: int) -> None:
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + int(value)

    def error(self, message: str) -> None:
        """A problem that did not stop the run (one batch refused, one field rejected)."""
        self.errors.append(message)
        del self.errors[:-MAX_ERRORS_KEPT]
        self.add(errors=1)

    def progress(self, done: int, total: int | None = None) -> None:
        if self.run is not None:
            report(self.run, progress=done, total=total, counts=self.counts | self._calls())

    def flush(self) -> None:
        if self.run is not None:
            report(self.run, counts=self.counts | self._calls())
