"""Marketing lists and their materialised membership.

``marketing_list_items`` holds one row per current member (written by INSERT … SELECT, see
services.marketing_lists.membership). Removed and unsubscribed members have rows of their
own: those rows are the user's decisions, so refreshes and re-matches never touch them.
``MarketingListItem.subscribed`` mirrors the unsubscribed table for fast grids and
sending sets; both are written together by services.marketing_lists.sending.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from extensions import db
from models.base import TimestampMixin
from models.base import UTCDateTime
from models.base import str_enum
from models.base import utcnow


class ListType(enum.StrEnum):
    DYNAMIC = "dynamic"
    ON_DEMAND = "on_demand"
    MANUAL = "manual"

    @property
    def label(self) -> str:
        return {"dynamic": "Dynamic", "on_demand": "On demand", "manual": "Manual"}[self.value]


class MarketingList(TimestampMixin, db.Model):
    __tablename__ = "marketing_lists"
    __table_args__ = (Index("ix_marketing_lists_entity_type", "entity", "type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    entity: Mapped[str] = mapped_column(String(40))  # a key of services.records.RECORD_TYPES
    type: Mapped[ListType] = mapped_column(str_enum(ListType), default=ListType.DYNAMIC)
    # Oro's "union_contacted_items": contacted members stay when they stop matching.
    include_previously_contacted: Mapped[bool] = mapped_column(default=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(Text, default="")
    # {"op": "and"|"or", "items": [condition | group]}, see services.marketing_lists.filters
    filter: Mapped[dict] = mapped_column(JSON, default=dict)
    # [{"field": key, "label": str, "sort": ""|"asc"|"desc"}]
    columns: Mapped[list] = mapped_column(JSON, default=list)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When membership was last computed and how long it took (peers' lesson: show it).
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    build_ms: Mapped[int | None] = mapped_column(Integer)

    owner = db.relationship("User", lazy="joined")


class MarketingListItem(db.Model):
    __tablename__ = "marketing_list_items"
    __table_args__ = (UniqueConstraint("marketing_list_id", "entity_id",
                                       name="uq_marketing_list_items_list_entity"),
                      Index("ix_marketing_list_items_entity", "entity_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    marketing_list_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_lists.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column()
    subscribed: Mapped[bool] = mapped_column(default=True)
    contacted_times: Mapped[int] = mapped_column(default=0)
    last_contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MarketingListRemovedItem(db.Model):
    __tablename__ = "marketing_list_removed_items"
    __table_args__ = (UniqueConstraint("marketing_list_id", "entity_id",
                                       name="uq_marketing_list_removed_items_list_entity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    marketing_list_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_lists.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MarketingListUnsubscribedItem(db.Model):
    """An opt-out; it outlives membership so a re-match never re-subscribes anyone."""

    __tablename__ = "marketing_list_unsubscribed_items"
    __table_args__ = (UniqueConstraint("marketing_list_id", "entity_id",
                                       name="uq_marketing_list_unsubscribed_items_list_entity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    marketing_list_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_lists.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
