"""Matching a column against a long list of values, in the form each database runs best.

On PostgreSQL ``col IN (:p1, …, :pN)`` is a new statement text for every N: the driver
re-parses it and the server re-plans it each time, and for the thousand-id batches the
senders and syncs use, that cost more than the statement itself. ``col = ANY(:array)``
is one text whatever the length, so psycopg prepares it once. SQLite has no arrays and
plans IN lists cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import any_
from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from extensions import db


def in_values(column, values: Iterable):
    """``column`` is one of ``values``."""
    values = list(values)
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)
