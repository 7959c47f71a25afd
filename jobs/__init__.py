"""Background jobs: a registry of job kinds, and enqueueing on RQ or in-process.

A job is a function ``fn(run: JobRun, **params)`` registered with ``@job("kind")``. It is
given the JobRun row (ids in ``run.params``), never ORM objects from the caller, and must
be idempotent: RQ may run it again after a worker crash, and the scheduler may fire twice.
"""

from __future__ import annotations

from jobs.registry import JobSpec
from jobs.registry import job
from jobs.registry import registry
from jobs.runner import enqueue
from jobs.runner import report

__all__ = ["JobSpec", "enqueue", "job", "registry", "report"]
