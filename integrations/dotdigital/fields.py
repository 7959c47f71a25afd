"""Dotdigital data fields and the mappings from record fields to them.

Data fields live in Dotdigital and are mirrored here by ``sync_data_fields``; a field is
created remotely first (``create_data_field``) and existing fields are never updated.
A mapping says, for one integration and one record type, which record field(s) feed which
data field, with a sync priority (the higher one wins when records of two types share an
email) and a Two Way Sync flag (Dotdigital's value is written back to the record).
"""

from __future__ import annotations

import re
from datetime import date
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update

from extensions import db
from integrations.http import ApiError
from models.base import utcnow
from models.integrations import DataField
from models.integrations import FieldMapping
from models.integrations import FieldMappingRow
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import SyncState
from services import records

TYPES = ("String", "Numeric", "Date", "Boolean")
VISIBILITIES = ("Private", "Public")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
SYSTEM_FIELDS = frozenset({"FIRSTNAME", "LASTNAME", "FULLNAME", "GENDER", "POSTCODE"})
DEFAULT_MAPPING_ROWS = (("FIRSTNAME", "first_name"), ("LASTNAME", "last_name"),
                        ("FULLNAME", "first_name,last_name"))
DEFAULT_PRIORITIES = {"contact": 20, "lead": 10}
# Record field types each data field type accepts (anything converts to String).
COMPATIBLE = {
    "Numeric": {"number"},
    "Boolean": {"bool"},
    "Date": {"date", "datetime"},
}
TRUE_WORDS = {"true", "1", "yes", "y", "on"}
FALSE_WORDS = {"false", "0", "no", "n", "off"}


class FieldError(ValueError):
    """A data field or mapping the rules or the remote side refuse; the message is for users."""


# -- values -------------------------------------------------------------------------------
def parse_typed(field_type: str, raw: str):
    """The value of ``raw`` for a data field type; ValueError when it does not fit."""
    raw = (raw or "").strip()
    if field_type == "Numeric":
        try:
            return Decimal(raw)
        except InvalidOperation:
            raise ValueError(raw) from None
    if field_type == "Boolean":
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise ValueError(raw)
    if field_type == "Date":
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return raw


def render(field_type: str, values: list) -> str:
    """One CSV cell for a data field from the mapped record values."""
    present = [v for v in values if v not in (None, "")]
    if not present:
        return ""
    if field_type == "Date":
        value = present[0]
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%S")
        if isinstance(value, date):
            return value.strftime("%Y-%m-%dT00:00:00")
        return str(value)
    if field_type == "Boolean":
        value = present[0]
        if isinstance(value, str):
            return "true" if value.lower() in TRUE_WORDS else "false"
        return "true" if value else "false"
    if field_type == "Numeric":
        value = present[0]
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return " ".join(str(v.value if hasattr(v, "value") else v).strip() for v in present)


class ExportColumns:
    """The data-field columns a list of one record type exports, in a fixed order."""

    def __init__(self, integration_id: int, entity: str):
        self.entity = entity
        mapping = db.session.scalar(select(FieldMapping).where(
            FieldMapping.integration_id == integration_id, FieldMapping.entity == entity))
        self.priority = mapping.sync_priority if mapping else 0
        rows = sorted(mapping.rows, key=lambda r: r.data_field.name) if mapping else []
        self.columns = [(r.data_field.name, r.data_field.type, r.field_keys) for r in rows]
        self.two_way = [(r.data_field.name, r.data_field.type, r.field_keys[0])
                        for r in rows if r.two_way and len(r.field_keys) == 1]
        self.integration_id = integration_id

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.columns]

    def values(self, fields: dict) -> dict[str, str]:
        return {name: render(kind, [fields.get(k) for k in keys])
                for name, kind, keys in self.columns}

    def values_for(self, recipients) -> list[dict[str, str]]:
        """Values per recipient; an email shared with a higher-priority type takes its values."""
        result = [self.values(r.fields) for r in recipients]
        overrides = _priority_overrides(self, [r.email for r in recipients])
        if overrides:
            for index, recipient in enumerate(recipients):
                # Data fields the higher type does not map keep this type's value.
                for name, value in overrides.get(recipient.email, {}).items():
                    if name in result[index]:
                        result[index][name] = value
        return result


def _priority_overrides(columns: ExportColumns, emails: list[str]) -> dict[str, dict]:
    """Values from records of higher-priority types synced to the same integration."""
    if not columns.columns or not emails:
        return {}
    higher = db.session.scalars(select(FieldMapping).where(
        FieldMapping.integration_id == columns.integration_id,
        FieldMapping.entity != columns.entity,
        FieldMapping.sync_priority > columns.priority)
        .order_by(FieldMapping.sync_priority)).all()
    found: dict[str, dict] = {}
    for mapping in higher:  # ascending: the highest priority is written last and wins
        if mapping.entity not in records.RECORD_TYPES:
            continue
        record_type = records.get(mapping.entity)
        other = ExportColumns(columns.integration_id, mapping.entity)
        # Only records that feed this integration through a connected list count.
        synced = (select(SyncState.email).join(
            ListConnection, ListConnection.id == SyncState.connection_id)
            .where(ListConnection.integration_id == columns.integration_id,
                   SyncState.email.in_(emails)))
        keys = sorted({k for _, _, ks in other.columns for k in ks})
        cols = [record_type.field(k).column.label(k) for k in keys]
        rows = db.session.execute(select(record_type.email_column.label("email"), *cols)
                                  .where(record_type.email_column.in_(synced))).all()
        for row in rows:
            found.setdefault(row.email, {}).update(other.values(dict(row._mapping)))
    return found


# -- data fields --------------------------------------------------------------------------
def validate_default(field_type: str, default: str) -> None:
    if default in (None, ""):
        return
    try:
        parse_typed(field_type, default)
    except ValueError:
        raise FieldError("Default value doesn't match the field's type") from None


def create_data_field(client, integration: Integration, name: str, field_type: str,
                      visibility: str, default: str = "", notes: str = "") -> DataField:
    """Create the field in Dotdigital, then here. Nothing is stored if Dotdigital refuses."""
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise FieldError("Use at most 20 letters, digits, - and _.")
    if field_type not in TYPES or visibility not in VISIBILITIES:
        raise FieldError("Choose a valid type and visibility.")
    validate_default(field_type, default)
    if db.session.scalar(select(DataField.id).where(
            DataField.integration_id == integration.id, DataField.name == name.upper())):
        raise FieldError("This data field already exists in this integration.")
    remote_default = None
    if default:
        value = parse_typed(field_type, default)
        remote_default = float(value) if isinstance(value, Decimal) else (
            value.isoformat() if isinstance(value, datetime) else value)
    try:
        created = client.create_data_field(name, field_type, visibility, remote_default)
    except ApiError as exc:
        raise FieldError(f"Failed to create field in dotdigital. {exc.message}") from exc
    row = DataField(integration_id=integration.id, name=(created or {}).get("name") or
                    name.upper(), type=field_type, visibility=visibility,
                    default_value=default or None, notes=notes or "",
                    system=False, synced_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row


def delete_data_field(client, field: DataField) -> None:
    if field.system or field.name in SYSTEM_FIELDS:
        raise FieldError("System data fields cannot be deleted.")
    try:
        result = client.delete_data_field(field.name)
    except ApiError as exc:
        if exc.status != 404:
            raise FieldError(f"dotdigital refused to delete {field.name}: {exc.message}") \
                from exc
        result = {"result": True}
    if isinstance(result, dict) and result.get("result") is False:
        used = ", ".join(str(d) for d in result.get("dependencies") or []) or "in use"
        raise FieldError(f"{field.name} is in use in dotdigital ({used}).")
    db.session.delete(field)
    db.session.commit()


def sync_data_fields(client, integration: Integration) -> dict[str, int]:
    """Mirror Dotdigital's data fields; the first time, create the default mappings."""
    remote = client.data_fields()
    first_time = integration.fields_synced_at is None
    existing = {f.name: f for f in db.session.scalars(select(DataField).where(
        DataField.integration_id == integration.id))}
    now = utcnow()
    added = 0
    seen = set()
    for item in remote:
        name = str(item.get("name") or "").upper()
        if not name:
            continue
        seen.add(name)
        default = item.get("defaultValue")
        row = existing.get(name)
        if row is None:
            row = DataField(integration_id=integration.id, name=name, notes="")
            db.session.add(row)
            added += 1
        row.type = item.get("type") or "String"
        row.visibility = item.get("visibility") or "Private"
        row.default_value = None if default is None else str(default)[:255]
        row.system = name in SYSTEM_FIELDS
        row.synced_at = now
    removed = 0
    # An empty answer is more likely a glitch than an account with no fields at all.
    if remote:
        for name, row in existing.items():
            if name not in seen:
                db.session.delete(row)
                removed += 1
    integration.fields_synced_at = now
    db.session.commit()
    if first_time:
        ensure_default_mappings(integration)
    return {"fields_added": added, "fields_removed": removed}


def ensure_default_mappings(integration: Integration) -> None:
    fields = {f.name: f for f in db.session.scalars(select(DataField).where(
        DataField.integration_id == integration.id))}
    for entity in records.RECORD_TYPES:
        record_type = records.get(entity)
        mapping = db.session.scalar(select(FieldMapping).where(
            FieldMapping.integration_id == integration.id, FieldMapping.entity == entity))
        if mapping is not None:
            continue
        mapping = FieldMapping(integration_id=integration.id, entity=entity,
                               sync_priority=DEFAULT_PRIORITIES.get(entity, 0))
        for field_name, keys in DEFAULT_MAPPING_ROWS:
            if field_name in fields and all(k in record_type.fields for k in keys.split(",")):
                mapping.rows.append(FieldMappingRow(data_field_id=fields[field_name].id,
                                                    entity_fields=keys, two_way=False))
        db.session.add(mapping)
    db.session.commit()


# -- mappings -----------------------------------------------------------------------------
def validate_mapping_rows(integration_id: int, entity: str,
                          rows: list[tuple[list[str], int, bool]]) -> list[str]:
    """The reference's rules; returns the error messages (empty when valid)."""
    errors = []
    if entity not in records.RECORD_TYPES:
        return ["Choose an entity with contact information."]
    record_type = records.get(entity)
    fields = {f.id: f for f in db.session.scalars(select(DataField).where(
        DataField.integration_id == integration_id))}
    used = set()
    for index, (keys, field_id, two_way) in enumerate(rows, start=1):
        where = f"Row {index}: "
        if not keys:
            errors.append(where + "choose at least one entity field.")
            continue
        unknown = [k for k in keys if k not in record_type.fields]
        if unknown:
            errors.append(where + f"unknown field {', '.join(unknown)}.")
            continue
        field = fields.get(field_id)
        if field is None:
            errors.append(where + "choose a data field of this integration.")
            continue
        if field_id in used:
            errors.append(where + f"{field.name} is already mapped; each data field can be "
                                  "mapped only once.")
        used.add(field_id)
        if len(keys) > 1 and field.type != "String":
            errors.append(where + "several entity fields can be mapped only to a String "
                                  "data field.")
            continue
        kinds = {record_type.field(k).type for k in keys}
        allowed = COMPATIBLE.get(field.type)
        if allowed is not None and not kinds <= allowed:
            errors.append(where + f"a {field.type} data field needs a field of a compatible "
                                  "type.")
        if two_way and (len(keys) > 1 or not record_type.field(keys[0]).editable):
            errors.append(where + "Two Way Sync works only for one editable field of the "
                                  "entity itself.")
    return errors


def save_mapping(integration_id: int, entity: str, priority: int,
                 rows: list[tuple[list[str], int, bool]],
                 mapping: FieldMapping | None = None) -> FieldMapping:
    duplicate = db.session.scalar(select(FieldMapping).where(
        FieldMapping.integration_id == integration_id, FieldMapping.entity == entity))
    if duplicate is not None and (mapping is None or duplicate.id != mapping.id):
        raise FieldError("Mapping for this entity already exists in this dotdigital "
                         "integration")
    errors = validate_mapping_rows(integration_id, entity, rows)
    if errors:
        raise FieldError(" ".join(errors))
    if mapping is None:
        mapping = FieldMapping(integration_id=integration_id, entity=entity)
        db.session.add(mapping)
    mapping.integration_id = integration_id
    mapping.entity = entity
    mapping.sync_priority = priority
    mapping.rows.clear()
    db.session.flush()
    for keys, field_id, two_way in rows:
        mapping.rows.append(FieldMappingRow(data_field_id=field_id, entity_fields=",".join(keys),
                                            two_way=two_way))
    db.session.flush()
    # The exported values changed shape: every member of the affected lists is re-checked.
    mark_for_export(integration_id, entity)
    db.session.commit()
    return mapping


def mark_for_export(integration_id: int, entity: str | None = None,
                    connection_id: int | None = None) -> int:
    """Flag sync-state rows so the next export re-checks their values (Refresh Data Fields)."""
    from models.lists import MarketingList

    connections = select(ListConnection.id).where(
        ListConnection.integration_id == integration_id)
    if entity is not None:
        connections = connections.join(
            MarketingList, MarketingList.id == ListConnection.marketing_list_id).where(
            MarketingList.entity == entity)
    if connection_id is not None:
        connections = connections.where(ListConnection.id == connection_id)
    result = db.session.execute(update(SyncState).where(
        SyncState.connection_id.in_(connections)).values(needs_export=True))
    return result.rowcount or 0


def delete_mapping(mapping: FieldMapping) -> None:
    integration_id, entity = mapping.integration_id, mapping.entity
    db.session.execute(delete(FieldMappingRow).where(FieldMappingRow.mapping_id == mapping.id))
    db.session.delete(mapping)
    mark_for_export(integration_id, entity)
    db.session.commit()


def has_virtual_fields(mapping: FieldMapping) -> bool:
    """Computed fields (e.g. owner) change without the record's updated_at moving."""
    if mapping.entity not in records.RECORD_TYPES:
        return False
    record_type = records.get(mapping.entity)
    return any(not record_type.fields[k].editable and k not in ("created_at", "updated_at")
               for row in mapping.rows for k in row.field_keys if k in record_type.fields)
