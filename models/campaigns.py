"""Marketing campaigns and the history of their codes (tracking matches every code)."""

from __future__ import annotations

import enum
from datetime import date
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Date
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Numeric
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from extensions import db
from models.base import TimestampMixin
from models.base import UTCDateTime
from models.base import str_enum
from models.base import utcnow

CODE_MAX = 20
NAME_MAX = 100


class ReportScale(enum.StrEnum):
    HOURLY = "hour"
    DAILY = "day"
    MONTHLY = "month"

    @property
    def label(self) -> str:
        return {"hour": "Hourly", "day": "Daily", "month": "Monthly"}[self.value]


class Campaign(TimestampMixin, db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_start_date", "start_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    code: Mapped[str] = mapped_column(String(CODE_MAX), unique=True)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, default="")
    budget: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    report_scale: Mapped[ReportScale] = mapped_column(str_enum(ReportScale, 10),
                                                      default=ReportScale.DAILY)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    owner = relationship("User", lazy="joined")
    code_history: Mapped[list[CampaignCodeHistory]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", passive_deletes=True,
        order_by="CampaignCodeHistory.id")

    @property
    def previous_codes(self) -> list[str]:
        return [h.code for h in self.code_history if h.code != self.code]

    @property
    def all_codes(self) -> list[str]:
        return [self.code, *self.previous_codes]


class CampaignCodeHistory(db.Model):
    """Every code a campaign has had, including codes of campaigns merged into it.

    A code stays reserved here forever so old tracking links keep resolving to the
    campaign; it is unique across all campaigns.
    """

    __tablename__ = "campaign_code_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                             index=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="code_history")
