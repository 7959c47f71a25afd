"""Integrations of every type: the registry of types, and the shared create/update rules.

A type (Dotdigital, Mailchimp) registers an ``IntegrationType`` naming its form, how the
form fills the row, how to check the connection and how to start a sync; System >
Integrations lists every type and offers a "create" for each, with no per-type code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from extensions import db
from models.integrations import Integration
from models.integrations import ListConnection


class IntegrationError(ValueError):
    """A change the rules refuse; the message is for users."""


@dataclass(frozen=True)
class IntegrationType:
    key: str  # "dotdigital"
    label: str  # "dotdigital"
    form: type  # a FlaskForm; its fields template renders the type-specific part
    fields_template: str
    # Copy the validated form into the row; blank secret fields keep the stored value.
    apply_form: Callable[[Integration, object], None]
    # Check the (possibly unsaved) settings; returns a message or raises IntegrationError.
    check_connection: Callable[[Integration], str]
    # Start a sync now; returns the JobRun.
    schedule_sync: Callable[[Integration, int | None], object]
    job_kinds: tuple[str, ...] = ()  # run kinds shown in the integration's sync history
    # Targets of those runs for one integration (e.g. "dotdigital:3", "dotdigital_list:7").
    run_targets: Callable[[Integration], list[str]] | None = None
    # Type-specific form values of a stored integration (e.g. from ``settings``).
    form_data: Callable[[Integration], dict] | None = None


TYPES: dict[str, IntegrationType] = {}


def register_type(integration_type: IntegrationType) -> IntegrationType:
    TYPES[integration_type.key] = integration_type
    return integration_type


def get_type(key: str) -> IntegrationType:
    return TYPES[key]


def all_integrations() -> list[Integration]:
    return list(db.session.scalars(select(Integration).order_by(Integration.type,
                                                                Integration.name)))


def of_type(key: str, enabled_only: bool = False) -> list[Integration]:
    query = select(Integration).where(Integration.type == key).order_by(Integration.name)
    if enabled_only:
        query = query.where(Integration.enabled.is_(True))
    return list(db.session.scalars(query))


def save(integration: Integration) -> Integration:
    duplicate = db.session.scalar(select(Integration.id).where(
        Integration.type == integration.type, Integration.name == integration.name,
        Integration.id != (integration.id or 0)))
    if duplicate:
        raise IntegrationError("An integration of this type with this name already exists.")
    if not integration.api_secret:
        raise IntegrationError("The password or API key is required.")
    db.session.add(integration)
    db.session.commit()
    return integration


def delete(integration: Integration) -> None:
    # SQLite does not enforce the cascades: remove the dependants explicitly.
    from sqlalchemy import delete as sql_delete

    from models.integrations import DataField
    from models.integrations import FieldMapping
    from models.integrations import FieldMappingRow
    from models.integrations import RemoteImport
    from models.integrations import RemoteList
    from models.integrations import SyncState

    connections = select(ListConnection.id).where(ListConnection.integration_id ==
                                                  integration.id)
    mappings = select(FieldMapping.id).where(FieldMapping.integration_id == integration.id)
    for statement in (
        sql_delete(SyncState).where(SyncState.connection_id.in_(connections)),
        sql_delete(RemoteImport).where(RemoteImport.connection_id.in_(connections)),
        sql_delete(ListConnection).where(ListConnection.integration_id == integration.id),
        sql_delete(RemoteList).where(RemoteList.integration_id == integration.id),
        sql_delete(FieldMappingRow).where(FieldMappingRow.mapping_id.in_(mappings)),
        sql_delete(FieldMapping).where(FieldMapping.integration_id == integration.id),
        sql_delete(DataField).where(DataField.integration_id == integration.id),
    ):
        db.session.execute(statement)
    db.session.delete(integration)
    db.session.commit()
