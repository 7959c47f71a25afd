"""Audiences (with their merge fields) and the marketing list ↔ static segment links.

A link is a shared ``ListConnection`` whose ``remote_id`` is ``"<audience>:<segment id>"``:
several lists may use one audience, each through its own static segment, whose name is
unique in the audience. The segment is created in Mailchimp when the list connects, so a
name clash is reported at once rather than at the first export.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy import select

from extensions import db
from integrations.http import ApiError
from integrations.http import NotFoundError
from integrations.http import ValidationError
from models.base import utcnow
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import RemoteList
from models.integrations import SyncState
from models.integrations import SyncStatus
from models.lists import MarketingList
from models.mailchimp import MailchimpMergeField
from models.mailchimp import MailchimpRejection
from services import records

TYPE = "mailchimp"


class ConnectError(ValueError):
    """A connection the rules or Mailchimp refuse; ``field`` names the form field."""

    def __init__(self, message: str, field: str = "segment_name"):
        super().__init__(message)
        self.field = field


def split(connection: ListConnection) -> tuple[str, str]:
    """(audience id, segment id); the segment id is "" while the segment has to be made."""
    audience, _, segment = connection.remote_id.partition(":")
    return audience, "" if segment.startswith("~") else segment


def _no_segment(connection: ListConnection, audience: str) -> str:
    # remote_id is unique per integration: a placeholder that names the connection.
    return f"{audience}:~{connection.id}"


def audience_name(connection: ListConnection) -> str:
    audience, _ = split(connection)
    return db.session.scalar(select(RemoteList.name).where(
        RemoteList.integration_id == connection.integration_id,
        RemoteList.remote_id == audience)) or audience


def connections_of(integration_id: int) -> list[ListConnection]:
    return list(db.session.scalars(select(ListConnection).where(
        ListConnection.integration_id == integration_id,
        ListConnection.integration_type == TYPE).order_by(ListConnection.id)))


def for_list(list_id: int) -> ListConnection | None:
    return db.session.scalar(select(ListConnection).where(
        ListConnection.marketing_list_id == list_id, ListConnection.integration_type == TYPE))


def sync_audiences(client, integration: Integration) -> dict[str, int]:
    """Upsert the audiences and their merge fields; forget audiences deleted remotely."""
    existing = {r.remote_id: r for r in db.session.scalars(select(RemoteList).where(
        RemoteList.integration_id == integration.id))}
    seen: set[str] = set()
    added = fields = 0
    now = utcnow()
    for audience in client.audiences():
        remote_id = str(audience["id"])
        seen.add(remote_id)
        row = existing.get(remote_id)
        if row is None:
            row = RemoteList(integration_id=integration.id, remote_id=remote_id)
            db.session.add(row)
            added += 1
        row.name = str(audience.get("name") or remote_id)[:255]
        row.member_count = int((audience.get("stats") or {}).get("member_count") or 0)
        row.synced_at = now
        fields += store_merge_fields(integration.id, remote_id, client.merge_fields(remote_id))
    gone = [remote_id for remote_id in existing if remote_id not in seen]
    if gone:
        db.session.execute(delete(RemoteList).where(RemoteList.integration_id == integration.id,
                                                    RemoteList.remote_id.in_(gone)))
        db.session.execute(delete(MailchimpMergeField).where(
            MailchimpMergeField.integration_id == integration.id,
            MailchimpMergeField.audience_id.in_(gone)))
        for connection in connections_of(integration.id):
            if split(connection)[0] in gone:
                mark_missing(connection, "The Mailchimp audience was deleted. Connect the list "
                                         "to another audience in Connection Settings.")
    db.session.commit()
    return {"audiences_added": added, "audiences_removed": len(gone), "merge_fields": fields}


def store_merge_fields(integration_id: int, audience_id: str, remote: list[dict]) -> int:
    db.session.execute(delete(MailchimpMergeField).where(
        MailchimpMergeField.integration_id == integration_id,
        MailchimpMergeField.audience_id == audience_id))
    for field in remote:
        db.session.add(MailchimpMergeField(
            integration_id=integration_id, audience_id=audience_id,
            merge_id=int(field.get("merge_id") or 0), tag=str(field.get("tag") or "")[:20],
            name=str(field.get("name") or "")[:255], type=str(field.get("type") or "text"),
            required=bool(field.get("required"))))
    return len(remote)


def check_segments(client, integration: Integration) -> int:
    """Notice segments deleted in Mailchimp; the next list sync recreates them."""
    missing = 0
    by_audience: dict[str, list[ListConnection]] = {}
    for connection in connections_of(integration.id):
        if connection.sync_status is not SyncStatus.REMOTE_MISSING:
            by_audience.setdefault(split(connection)[0], []).append(connection)
    for audience, links in by_audience.items():
        ids = {str(s["id"]) for s in client.segments(audience)}
        for connection in links:
            if split(connection)[1] not in ids:
                forget_segment(connection)
                missing += 1
    db.session.commit()
    return missing


def forget_segment(connection: ListConnection) -> None:
    """The segment is gone remotely: its members must all be added again to a new one."""
    audience, _ = split(connection)
    connection.remote_id = _no_segment(connection, audience)
    connection.sync_message = (f'The segment "{connection.remote_name}" was deleted in '
                               "Mailchimp; it is created again at the next synchronization.")
    connection.sync_status = SyncStatus.NOT_SYNCED
    connection.export_cursor = None
    db.session.execute(delete(SyncState).where(SyncState.connection_id == connection.id))


def mark_missing(connection: ListConnection, message: str) -> None:
    connection.sync_status = SyncStatus.REMOTE_MISSING
    connection.sync_message = message
    db.session.execute(delete(SyncState).where(SyncState.connection_id == connection.id))


def ensure_segment(client, connection: ListConnection) -> str:
    """The connection's segment id, creating the segment (again) when it has none."""
    audience, segment = split(connection)
    if segment:
        return segment
    segment = _create_or_adopt(client, connection.integration_id, audience,
                               connection.remote_name, connection.id)
    connection.remote_id = f"{audience}:{segment}"
    db.session.commit()
    return segment


def _create_or_adopt(client, integration_id: int, audience: str, name: str,
                     connection_id: int | None) -> str:
    try:
        return str(client.create_segment(audience, name)["id"])
    except ValidationError as exc:
        # The name is taken: adopt that static segment unless another list uses it.
        found = next((s for s in client.segments(audience) if s.get("name") == name), None)
        if found is None:
            raise ConnectError(f"Mailchimp refused the segment: {exc.message}") from exc
        taken = db.session.scalar(select(ListConnection.id).where(
            ListConnection.integration_id == integration_id,
            ListConnection.remote_id == f"{audience}:{found['id']}",
            ListConnection.id != (connection_id or 0)))
        if taken:
            raise ConnectError("A segment with this name is already used by another marketing "
                               "list in this audience.") from exc
        return str(found["id"])
    except NotFoundError as exc:
        raise ConnectError("The audience no longer exists in Mailchimp; run Schedule Sync on "
                           "the integration to refresh the audiences.", "audience") from exc


def connect(client, mlist: MarketingList, integration: Integration, audience: str,
            segment_name: str, connection: ListConnection | None = None) -> ListConnection:
    """Link (or re-link) a list to a static segment of an audience."""
    record_type = records.RECORD_TYPES.get(mlist.entity)
    if record_type is None or not record_type.email_field:
        raise ConnectError("Only lists of records with an email can connect.", "integration")
    name = (segment_name or "").strip()
    if not name or len(name) > 100:
        raise ConnectError("Enter a segment name of at most 100 characters.")
    remote = db.session.scalar(select(RemoteList).where(
        RemoteList.integration_id == integration.id, RemoteList.remote_id == audience))
    if remote is None:
        raise ConnectError("Choose an audience of this integration.", "audience")
    same_name = [c for c in connections_of(integration.id)
                 if split(c)[0] == audience and c.remote_name == name
                 and (connection is None or c.id != connection.id)]
    if same_name:
        raise ConnectError("The segment name must be unique in the audience: another marketing "
                           "list already uses it.")
    existing = for_list(mlist.id)
    if existing is not None and (connection is None or existing.id != connection.id):
        raise ConnectError("This list is already connected to Mailchimp.", "integration")
    try:
        if connection is not None and connection.integration_id == integration.id \
                and split(connection)[0] == audience:
            if name != connection.remote_name and split(connection)[1]:
                try:
                    client.rename_segment(audience, split(connection)[1], name)
                except NotFoundError:
                    connection.remote_id = _no_segment(connection, audience)
            connection.remote_name = name
            if not split(connection)[1]:
                ensure_segment(client, connection)
            db.session.commit()
            return connection
        segment = _create_or_adopt(client, integration.id, audience, name,
                                   connection.id if connection else None)
    except ApiError as exc:
        raise ConnectError(f"Mailchimp: {exc}") from exc
    if connection is None:
        connection = ListConnection(marketing_list_id=mlist.id, integration_type=TYPE)
        db.session.add(connection)
    else:
        _forget(connection)
        connection.export_cursor = connection.import_cursor = None
    connection.integration_id = integration.id
    connection.remote_id = f"{audience}:{segment}"
    connection.remote_name = name
    connection.sync_status = SyncStatus.NOT_SYNCED
    connection.sync_message = None
    db.session.commit()
    return connection


def _forget(connection: ListConnection) -> None:
    if connection.id is None:
        return
    db.session.execute(delete(SyncState).where(SyncState.connection_id == connection.id))
    db.session.execute(delete(MailchimpRejection).where(
        MailchimpRejection.connection_id == connection.id))


def disconnect(connection: ListConnection) -> None:
    """Unlink; the segment and the audience stay as they are in Mailchimp."""
    _forget(connection)
    db.session.delete(connection)
    db.session.commit()


def merge_fields_of(integration_id: int, audience: str) -> dict[str, MailchimpMergeField]:
    return {f.tag: f for f in db.session.scalars(select(MailchimpMergeField).where(
        MailchimpMergeField.integration_id == integration_id,
        MailchimpMergeField.audience_id == audience))}


def audiences_of(integration_id: int) -> list[RemoteList]:
    return list(db.session.scalars(select(RemoteList).where(
        RemoteList.integration_id == integration_id).order_by(RemoteList.name)))
