"""JobRun: one row per background job, shown live in the UI."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from extensions import db
from models.base import UTCDateTime
from models.base import str_enum
from models.base import utcnow


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.RUNNING)


_ACTIVE = "status IN ('queued', 'running')"


class JobRun(db.Model):
    __tablename__ = "job_runs"
    __table_args__ = (
        # At most one active run per (kind, target): the database, not a lock service,
        # guarantees one sync per list at a time across every web process and worker.
        Index("uq_job_runs_active_target", "kind", "target", unique=True,
              sqlite_where=text(_ACTIVE), postgresql_where=text(_ACTIVE)),
        Index("ix_job_runs_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(80))
    # What the run works on, as "<type>:<id>" (e.g. "marketing_list:4"); "" when global.
    target: Mapped[str] = mapped_column(String(120), default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus),
                                              default=JobStatus.QUEUED)
    phase: Mapped[str] = mapped_column(String(120), default="")
    progress: Mapped[int] = mapped_column(default=0)  # done units
    total: Mapped[int | None] = mapped_column()  # None while unknown
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    rq_job_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("users.id",
                                                                    ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, int(self.progress * 100 / self.total))

    @property
    def is_active(self) -> bool:
        return self.status.active
