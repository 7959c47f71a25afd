"""Password login with throttling of failed attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from extensions import db
from models.base import utcnow
from models.users import LoginAttempt
from models.users import User

# Hashing a throwaway password for unknown emails keeps the response time the same as for
# a real account, so timing does not reveal which emails exist.
_DUMMY_HASH = None


@dataclass
class LoginResult:
    user: User | None = None
    error: str | None = None


def _window_start():
    return utcnow() - timedelta(seconds=current_app.config["LOGIN_THROTTLE_WINDOW_SECONDS"])


def is_throttled(email: str, ip: str) -> bool:
    limit = current_app.config["LOGIN_THROTTLE_LIMIT"]
    since = _window_start()
    by_email = db.session.scalar(select(func.count()).where(
        LoginAttempt.email == email, LoginAttempt.at >= since))
    by_ip = db.session.scalar(select(func.count()).where(
        LoginAttempt.ip == ip, LoginAttempt.at >= since))
    return by_email >= limit or by_ip >= limit


def authenticate(email: str, password: str, ip: str) -> LoginResult:
    global _DUMMY_HASH
    email = (email or "").strip().lower()
    minutes = current_app.config["LOGIN_THROTTLE_WINDOW_SECONDS"] // 60
    if is_throttled(email, ip):
        return LoginResult(error=f"Too many failed login attempts. "
                                 f"Try again in {minutes} minutes.")
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = generate_password_hash("not-a-password", method="scrypt")
        check_password_hash(_DUMMY_HASH, password or "")
        ok = False
    else:
        ok = user.check_password(password or "")
    if not ok or not user.active:
        db.session.add(LoginAttempt(email=email, ip=ip))
        db.session.commit()
        if ok and not user.active:
            return LoginResult(error="This account is deactivated.")
        return LoginResult(error="Invalid email or password.")
    # A success clears the account's failures; the IP's stay until they age out.
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
    user.last_login_at = utcnow()
    db.session.commit()
    return LoginResult(user=user)
