"""Marketing list ↔ remote list connections, generic over the integration type."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy import select

from extensions import db
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import RemoteImport
from models.integrations import RemoteList
from models.integrations import SyncState
from models.integrations import SyncStatus
from models.lists import MarketingList
from services import records
from services.integrations import IntegrationError


def for_list(list_id: int, integration_type: str) -> ListConnection | None:
    return db.session.scalar(select(ListConnection).where(
        ListConnection.marketing_list_id == list_id,
        ListConnection.integration_type == integration_type))


def connect(mlist: MarketingList, integration: Integration, remote_id: str,
            create_entities: bool = False,
            connection: ListConnection | None = None) -> ListConnection:
    """Link (or re-link) a list to a remote list: one list ↔ one remote list."""
    record_type = records.RECORD_TYPES.get(mlist.entity)
    if record_type is None or not record_type.email_field:
        raise IntegrationError("Only lists of records with an email can connect.")
    remote = db.session.scalar(select(RemoteList).where(
        RemoteList.integration_id == integration.id, RemoteList.remote_id == str(remote_id)))
    if remote is None:
        raise IntegrationError("Choose an address book of this integration.")
    taken = db.session.scalar(select(ListConnection).where(
        ListConnection.integration_id == integration.id,
        ListConnection.remote_id == remote.remote_id,
        ListConnection.id != (connection.id if connection else 0)))
    if taken is not None:
        raise IntegrationError(f'"{remote.name}" is already linked to another marketing list.')
    existing = for_list(mlist.id, integration.type)
    if existing is not None and (connection is None or existing.id != connection.id):
        raise IntegrationError("This list is already connected.")
    if connection is None:
        connection = ListConnection(marketing_list_id=mlist.id, integration_type=integration.type)
        db.session.add(connection)
    elif connection.integration_id != integration.id or connection.remote_id != remote.remote_id:
        # Another book: what the old one held says nothing about the new one.
        _forget_state(connection)
        connection.export_cursor = connection.import_cursor = None
        connection.sync_status = SyncStatus.NOT_SYNCED
        connection.sync_message = None
    connection.integration_id = integration.id
    connection.remote_id = remote.remote_id
    connection.remote_name = remote.name
    connection.create_entities = bool(create_entities)
    db.session.commit()
    return connection


def _forget_state(connection: ListConnection) -> None:
    if connection.id is None:
        return
    db.session.execute(delete(SyncState).where(SyncState.connection_id == connection.id))
    db.session.execute(delete(RemoteImport).where(RemoteImport.connection_id == connection.id))


def disconnect(connection: ListConnection) -> None:
    """Unlink; the remote list and its contacts stay as they are."""
    _forget_state(connection)
    db.session.delete(connection)
    db.session.commit()
