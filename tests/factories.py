"""Small model factories: each returns a committed row with sensible defaults."""

from __future__ import annotations

import itertools

from extensions import db
from models.users import Role
from models.users import User

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


def user(role: Role = Role.MARKETER, email: str | None = None, password: str = PASSWORD,
         active: bool = True, name: str = "") -> User:
    n = next(_seq)
    row = User(email=email or f"user{n}@example.com", role=role, active=active,
               name=name or f"User {n}")
    row.set_password(password)
    db.session.add(row)
    db.session.commit()
    return row
