"""Record marketing activities once each, and summarise them per campaign.

Writers (SMTP statistics here; Dotdigital and Mailchimp imports later) call ``record``
inside their own transaction; it never commits. Storing is idempotent: the event's
identity hashes to ``event_key`` and a second insert of the same event is ignored by
the database (ON CONFLICT DO NOTHING), so a redelivered webhook or a re-run import adds
nothing and the caller learns whether the event was new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from models.base import utcnow
from models.marketing_activity import SUMMARY_TYPES
from models.marketing_activity import ActivityType
from models.marketing_activity import MarketingActivity


def event_key(type_: ActivityType | str, *, source: str = "", email_campaign_id=None,
              campaign_id=None, entity_type: str = "", entity_id=None,
              action_date: datetime | None = None, details: str = "") -> str:
    """A stable key for one event: the same event described twice gets the same key.

    ``source`` distinguishes where events come from ("smtp", "dotdigital", ...) and can
    carry a remote event id when the remote side has one.
    """
    parts = [source, str(ActivityType(type_).value), str(email_campaign_id or ""),
             str(campaign_id or ""), entity_type, str(entity_id or ""),
             action_date.isoformat() if action_date else "", details]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def undated_keyer(type_: ActivityType | str, *, source: str = "", email_campaign_id=None,
                  campaign_id=None, entity_type: str = "") -> Callable[[int], str]:
    """``entity_id → event_key(...)`` of an event with no date and no details.

    For imports that key a million such events (sends, bounces): the parts they share
    are joined once rather than per event.
    """
    head = "\x1f".join([source, str(ActivityType(type_).value), str(email_campaign_id or ""),
                        str(campaign_id or ""), entity_type, ""])

    def key(entity_id: int) -> str:
        return hashlib.sha256(f"{head}{entity_id}\x1f\x1f".encode()).hexdigest()

    return key


def _insert():
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {dialect}")
    # The table, not the ORM entity: plain Core statements, compiled once per shape.
    return insert(MarketingActivity.__table__)


def record(type_: ActivityType | str, *, campaign_id: int | None = None,
           email_campaign_id: int | None = None, entity_type: str = "",
           entity_id: int | None = None, details: str = "",
           action_date: datetime | None = None, key: str | None = None,
           source: str = "") -> bool:
    """Store one activity unless already stored; True when it is new. Does not commit."""
    action_date = action_date or utcnow()
    key = key or event_key(type_, source=source, email_campaign_id=email_campaign_id,
                           campaign_id=campaign_id, entity_type=entity_type,
                           entity_id=entity_id, action_date=action_date, details=details)
    statement = _insert().values(
        type=ActivityType(type_).value, campaign_id=campaign_id,
        email_campaign_id=email_campaign_id, entity_type=entity_type, entity_id=entity_id,
        details=details[:4000], action_date=action_date, event_key=key, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["event_key"]).returning(
        MarketingActivity.__table__.c.id)
    # RETURNING, not rowcount: psycopg reports -1 for this statement.
    return db.session.execute(statement).first() is not None


def record_many(rows: list[dict]) -> int:
    """Bulk ``record``: each dict has record()'s keyword arguments plus ``type``."""
    if not rows:
        return 0
    values = []
    for row in rows:
        row = dict(row)
        type_ = ActivityType(row.pop("type"))
        row.setdefault("action_date", utcnow())
        key = row.pop("key", None) or event_key(
            type_, source=row.pop("source", ""), email_campaign_id=row.get("email_campaign_id"),
            campaign_id=row.get("campaign_id"), entity_type=row.get("entity_type", ""),
            entity_id=row.get("entity_id"), action_date=row["action_date"],
            details=row.get("details", ""))
        row.pop("source", None)
        # One statement for all rows needs the same keys on every row.
        values.append({"type": type_.value, "event_key": key, "created_at": utcnow(),
                       "campaign_id": None, "email_campaign_id": None, "entity_type": "",
                       "entity_id": None, "details": "", **row})
    # executemany: SQLAlchemy batches it into multi-row INSERTs ("insertmanyvalues").
    statement = (_insert().on_conflict_do_nothing(index_elements=["event_key"])
                 .returning(MarketingActivity.__table__.c.id))
    return len(db.session.execute(statement, values).all())


def summary(campaign_id: int) -> list[tuple[ActivityType, int]]:
    """Counts per type for the campaign's Marketing Activity Summary (reference order)."""
    counts = dict(db.session.execute(
        select(MarketingActivity.type, func.count()).where(
            MarketingActivity.campaign_id == campaign_id).group_by(MarketingActivity.type)).all())
    rows = [(t, counts.get(t, 0)) for t in SUMMARY_TYPES]
    if counts.get(ActivityType.ABUSE):
        rows.append((ActivityType.ABUSE, counts[ActivityType.ABUSE]))
    return rows
