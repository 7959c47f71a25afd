"""Website tracking: tracked sites, their events and visits, and the daily/monthly summary.

Events keep the raw campaign ``code`` rather than a campaign foreign key: campaigns are
matched by code (current or historical) when read, so renaming or merging a campaign
never rewrites tracking history.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy import Date
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from extensions import db
from models.base import TimestampMixin
from models.base import UTCDateTime
from models.base import utcnow

# 64-bit ids where tables grow with traffic; SQLite only autoincrements INTEGER keys.
BigId = BigInteger().with_variant(Integer, "sqlite")


class TrackingWebsite(TimestampMixin, db.Model):
    __tablename__ = "tracking_websites"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(255))
    # The Matomo ``idsite`` the snippet sends; equal to the Matomo site id when forwarding.
    identifier: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")

    owner = relationship("User", lazy="joined")


class TrackingVisit(db.Model):
    """Consecutive hits of one visitor (cookie id and user identifier) on one site."""

    __tablename__ = "tracking_visits"
    __table_args__ = (
        Index("ix_tracking_visits_lookup", "website_id", "visitor_id", "last_action_at"),
        Index("ix_tracking_visits_code", "code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    website_id: Mapped[int] = mapped_column(ForeignKey("tracking_websites.id",
                                                       ondelete="CASCADE"))
    visitor_id: Mapped[str] = mapped_column(String(32))
    user_identifier: Mapped[str] = mapped_column(String(255), default="guest")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    client: Mapped[str] = mapped_column(String(64), default="")
    client_version: Mapped[str] = mapped_column(String(32), default="")
    os: Mapped[str] = mapped_column(String(64), default="")
    os_version: Mapped[str] = mapped_column(String(32), default="")
    device: Mapped[str] = mapped_column(String(64), default="")
    desktop: Mapped[bool] = mapped_column(default=False)
    mobile: Mapped[bool] = mapped_column(default=False)
    bot: Mapped[bool] = mapped_column(default=False)
    code: Mapped[str | None] = mapped_column(String(255))
    first_action_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_action_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TrackingEvent(db.Model):
    __tablename__ = "tracking_events"
    __table_args__ = (
        # The campaign Events chart reads by code over a time range.
        Index("ix_tracking_events_code_logged", "code", "logged_at"),
        # The nightly summary reads whole days across sites.
        Index("ix_tracking_events_logged", "logged_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    website_id: Mapped[int] = mapped_column(ForeignKey("tracking_websites.id",
                                                       ondelete="CASCADE"))
    # No foreign key: its per-row check was a third of the drain's insert time, and
    # visits go only with their website (services/tracking/websites.delete_website),
    # which deletes the events first.
    visit_id: Mapped[int | None] = mapped_column(BigId)
    name: Mapped[str] = mapped_column(String(255), default="visit")
    value: Mapped[float | None] = mapped_column(Float)
    user_identifier: Mapped[str] = mapped_column(String(255), default="guest")
    url: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(String(512), default="")
    code: Mapped[str | None] = mapped_column(String(255))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackingEventSummary(db.Model):
    """Hits per (site, campaign code, event name) per day or month, built nightly."""

    __tablename__ = "tracking_event_summaries"
    __table_args__ = (
        UniqueConstraint("scale", "bucket", "website_id", "code", "name",
                         name="uq_tracking_event_summaries_key"),
        Index("ix_tracking_event_summaries_code", "code", "scale", "bucket"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scale: Mapped[str] = mapped_column(String(8))  # "day" | "month"
    bucket: Mapped[date] = mapped_column(Date)  # the day, or the first day of the month
    website_id: Mapped[int] = mapped_column(ForeignKey("tracking_websites.id",
                                                       ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255))
    hits: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class TrackingDrainCursor(db.Model):
    """The last Redis Stream entry whose hits are committed, per stream.

    Written in the same transaction as the events, so a drain that dies between the
    commit and the stream acknowledgement skips those entries when they come back.
    """

    __tablename__ = "tracking_drain_cursors"

    stream: Mapped[str] = mapped_column(String(120), primary_key=True)
    last_id: Mapped[str] = mapped_column(String(40))


class TrackingOutbox(db.Model):
    """Hits waiting to be forwarded to the configured Matomo (Piwik) server."""

    __tablename__ = "tracking_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    website_id: Mapped[int] = mapped_column(ForeignKey("tracking_websites.id",
                                                       ondelete="CASCADE"))
    query: Mapped[str] = mapped_column(Text)  # the Matomo request as a query string
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The Events grid: one site, newest first, keyset-paged by (logged_at, id). logged_at is
# NOT NULL, so the grid orders it plainly and both databases scan this index backwards.
Index("ix_tracking_events_site_logged", TrackingEvent.website_id, TrackingEvent.logged_at,
      TrackingEvent.id)
