"""Back-office users, their roles, and the login attempts used for throttling."""

from __future__ import annotations

import enum
from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from extensions import db
from models.base import TimestampMixin
from models.base import UTCDateTime
from models.base import str_enum
from models.base import utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return self.value.capitalize()


# What each role may do; views check a permission, never a role name.
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({"view", "edit", "sync", "admin"}),
    Role.MARKETER: frozenset({"view", "edit", "sync"}),
    Role.VIEWER: frozenset({"view"}),
}


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role),
                                       default=Role.VIEWER)
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped on password reset or deactivation so other sessions of the user end.
    session_version: Mapped[int] = mapped_column(default=1)

    def set_password(self, password: str) -> None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        # The version makes a stolen or stale session cookie stop working after a reset.
        return f"{self.id}:{self.session_version}"

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]

    @property
    def display_name(self) -> str:
        return self.name or self.email


class LoginAttempt(db.Model):
    """One failed login; rows older than the throttle window are pruned."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_at", "email", "at"),
                      Index("ix_login_attempts_ip_at", "ip", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
