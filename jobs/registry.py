"""The table of job kinds: what function runs, on which queue, with which limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobSpec:
    kind: str
    func: Callable
    queue: str = "default"
    timeout: int | None = None  # seconds; None uses the JOB_TIMEOUT setting
    label: str = ""


registry: dict[str, JobSpec] = {}


def job(kind: str, *, queue: str = "default", timeout: int | None = None, label: str = ""):
    """Register ``fn(run, **params)`` as the job of ``kind``."""

    def decorator(func: Callable) -> Callable:
        if kind in registry and registry[kind].func is not func:
            raise ValueError(f"job kind {kind!r} registered twice")
        registry[kind] = JobSpec(kind, func, queue, timeout, label or kind.replace("_", " "))
        return func

    return decorator
