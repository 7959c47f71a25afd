"""Records that carry contact information: contacts and leads.

Emails are stored trimmed and lower-cased (services.records.normalise_email), so
duplicates are found case-insensitively with a plain index, on every backend.
"""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from extensions import db
from models.base import TimestampMixin
from models.base import str_enum


class LeadStatus(enum.StrEnum):
    NEW = "new"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class LeadSource(enum.StrEnum):
    WEBSITE = "website"
    EMAIL = "email"
    PHONE = "phone"
    REFERRAL = "referral"
    EVENT = "event"
    OTHER = "other"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Contact(TimestampMixin, db.Model):
    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_email", "email"),
                      Index("ix_contacts_updated_at", "updated_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    company: Mapped[str | None] = mapped_column(String(255))
    job_title: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[str | None] = mapped_column(String(500))  # comma-separated
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or self.email or f"Contact {self.id}"


class Lead(TimestampMixin, db.Model):
    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_email", "email"),
                      Index("ix_leads_updated_at", "updated_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    company: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[LeadSource | None] = mapped_column(str_enum(LeadSource))
    status: Mapped[LeadStatus] = mapped_column(str_enum(LeadStatus), default=LeadStatus.NEW)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def display_name(self) -> str:
        return self.name or self.email or f"Lead {self.id}"
