"""Identifier → website id, cached per process so the collector skips the ORM per hit."""

from __future__ import annotations

import time

from sqlalchemy import select

from extensions import db
from models.tracking import TrackingWebsite

_POSITIVE_TTL = 60.0
# Short, so a website created in another process starts receiving within seconds.
_NEGATIVE_TTL = 5.0
_MAX_ENTRIES = 10_000
_cache: dict[str, tuple[float, int | None]] = {}


def site_id(identifier: str) -> int | None:
    now = time.monotonic()
    cached = _cache.get(identifier)
    if cached and cached[0] > now:
        return cached[1]
    found = db.session.execute(
        select(TrackingWebsite.id).where(TrackingWebsite.identifier == identifier)
    ).scalar()
    if len(_cache) >= _MAX_ENTRIES:
        _cache.clear()  # unknown identifiers sent by anyone must not grow memory forever
    _cache[identifier] = (now + (_POSITIVE_TTL if found else _NEGATIVE_TTL), found)
    return found


def forget(*identifiers: str) -> None:
    """Drop cached lookups after a website is created, renamed or deleted here."""
    for identifier in identifiers:
        _cache.pop(identifier, None)


def clear() -> None:
    _cache.clear()
