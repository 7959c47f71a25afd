"""Creating, changing and deleting contacts and leads, for forms and imports alike.

Every change is followed by a re-evaluation job for the dynamic lists of the record's
type, so lists follow the data without anyone loading the lists into Python.
"""

from __future__ import annotations

from sqlalchemy import select

from extensions import db
from models.base import utcnow
from services import records
from services.marketing_lists import membership


class RecordError(ValueError):
    """Invalid values; ``errors`` maps a field key to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def clean(record_type: records.RecordType, data: dict) -> dict:
    """Normalised values of the editable fields in ``data``; raises RecordError.

    Only keys present in ``data`` are returned; a blank value becomes None.
    """
    values, errors = {}, {}
    for key, raw in data.items():
        field = record_type.fields.get(key)
        if field is None or not field.editable:
            continue
        value = raw.strip() if isinstance(raw, str) else raw
        if value in ("", None):
            value = None
        if field.type == "email":
            value = records.normalise_email(value)
            if value is not None and not records.valid_email(value):
                errors[key] = f"“{value}” is not a valid email address."
        elif field.type == "phone" and value is not None and not records.valid_phone(value):
            errors[key] = f"“{value}” is not a valid phone number."
        elif field.type == "choice" and value is not None:
            value = str(value).lower()
            if value not in {v for v, _ in field.choices}:
                errors[key] = f"“{raw}” is not one of: " + ", ".join(
                    v for v, _ in field.choices) + "."
        if value is not None and field.max_length and len(str(value)) > field.max_length:
            errors[key] = f"At most {field.max_length} characters."
        values[key] = value
    for field in record_type.required_fields:
        if field.key in data and values.get(field.key) is None and field.key not in errors:
            errors[field.key] = f"{field.label} is required."
    if errors:
        raise RecordError(errors)
    return values


def create(record_type: records.RecordType, data: dict, owner_id: int | None = None,
           user_id: int | None = None):
    values = clean(record_type, {f.key: data.get(f.key) for f in record_type.editable_fields})
    row = record_type.model(**values, owner_id=owner_id)
    db.session.add(row)
    db.session.commit()
    reevaluate_later(record_type.name, [row.id], user_id)
    return row


def update(record_type: records.RecordType, row, data: dict, owner_id: int | None = None,
           user_id: int | None = None):
    values = clean(record_type, {f.key: data.get(f.key) for f in record_type.editable_fields})
    for key, value in values.items():
        setattr(row, key, value)
    row.owner_id = owner_id
    row.updated_at = utcnow()
    db.session.commit()
    reevaluate_later(record_type.name, [row.id], user_id)
    return row


def delete(record_type: records.RecordType, row) -> None:
    record_id = row.id
    db.session.delete(row)
    # Its list rows go in the same transaction: no list ever points at a missing record.
    membership.purge_records(record_type.name, [record_id], commit=False)
    db.session.commit()


def reevaluate_later(entity: str, ids: list[int], user_id: int | None = None):
    """Queue the re-match of these records against the dynamic lists of their type."""
    import jobs

    # One run per change: a run already under way may have read the record before it.
    stamp = utcnow().strftime("%Y%m%d%H%M%S%f")
    target = f"{entity}:{ids[0]}:{stamp}" if len(ids) == 1 else f"{entity}:batch:{stamp}"
    return jobs.enqueue("records_reevaluate", target, {"entity": entity, "ids": ids}, user_id)


def find(record_type: records.RecordType, record_id: int):
    return db.session.get(record_type.model, record_id)


def owners() -> list[tuple[int, str]]:
    from models.users import User

    return [(u.id, u.email) for u in db.session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.email))]
