"""Creating and changing back-office users (shared by the Users page and the CLI)."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from models.users import Role
from models.users import User

MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A user change was refused; the message is shown to the admin."""


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(email: str, password: str, role: Role | str = Role.VIEWER, name: str = "") -> User:
    email = email.strip().lower()
    if find_by_email(email):
        raise UserError(f"A user with email {email} already exists.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    user = User(email=email, name=name.strip(), role=Role(role))
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def _active_admins() -> int:
    return db.session.scalar(select(func.count()).where(User.role == Role.ADMIN,
                                                        User.active.is_(True)))


def set_active(user: User, active: bool, acting: User) -> None:
    if not active and user.id == acting.id:
        raise UserError("You cannot deactivate your own account.")
    if not active and user.role is Role.ADMIN and user.active and _active_admins() <= 1:
        raise UserError("The last active admin cannot be deactivated.")
    user.active = active
    if not active:
        user.session_version += 1  # ends the user's open sessions
    db.session.commit()


def set_role(user: User, role: Role | str, acting: User) -> None:
    role = Role(role)
    if user.role is Role.ADMIN and role is not Role.ADMIN and user.active \
            and _active_admins() <= 1:
        raise UserError("The last active admin must stay an admin.")
    user.role = role
    db.session.commit()


def reset_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    user.set_password(password)
    db.session.commit()
