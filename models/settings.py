"""System configuration values stored in the database (System > Configuration)."""

from __future__ import annotations

from sqlalchemy import JSON
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from extensions import db
from models.base import TimestampMixin


class Setting(TimestampMixin, db.Model):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
