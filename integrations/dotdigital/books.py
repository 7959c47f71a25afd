"""Dotdigital address books: mirrored locally, created on demand, never "All Contacts"/"Test"."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy import select

from extensions import db
from integrations.dotdigital.client import SYSTEM_BOOKS
from integrations.http import ApiError
from models.base import utcnow
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import RemoteList
from models.integrations import SyncState
from models.integrations import SyncStatus

VISIBILITIES = ("Private", "Public")


class BookError(ValueError):
    """An address book the rules or Dotdigital refuse; the message is for users."""


def is_system(name: str) -> bool:
    return (name or "").strip().lower() in SYSTEM_BOOKS


def sync_address_books(client, integration: Integration) -> dict[str, int]:
    """Upsert every book but the system ones; forget books deleted remotely.

    A connection whose book vanished keeps its list untouched (Oro's cascade could mark
    members removed) and says so in its status until someone reconnects it.
    """
    remote = [b for b in client.address_books() if not is_system(b.get("name"))]
    existing = {r.remote_id: r for r in db.session.scalars(select(RemoteList).where(
        RemoteList.integration_id == integration.id))}
    now = utcnow()
    seen = set()
    added = 0
    for book in remote:
        remote_id = str(book["id"])
        seen.add(remote_id)
        row = existing.get(remote_id)
        if row is None:
            row = RemoteList(integration_id=integration.id, remote_id=remote_id)
            db.session.add(row)
            added += 1
        row.name = str(book.get("name") or "")[:255]
        row.visibility = book.get("visibility") or ""
        row.member_count = int(book.get("contacts") or 0)
        row.synced_at = now
    gone = [remote_id for remote_id in existing if remote_id not in seen]
    if gone:
        db.session.execute(delete(RemoteList).where(RemoteList.integration_id == integration.id,
                                                    RemoteList.remote_id.in_(gone)))
        for connection in db.session.scalars(select(ListConnection).where(
                ListConnection.integration_id == integration.id,
                ListConnection.remote_id.in_(gone))):
            mark_book_missing(connection)
    db.session.commit()
    return {"books_added": added, "books_removed": len(gone)}


def mark_book_missing(connection: ListConnection) -> None:
    connection.sync_status = SyncStatus.REMOTE_MISSING
    connection.sync_message = (f'The address book "{connection.remote_name}" was deleted in '
                               "dotdigital. Choose another book in Connection Settings.")
    db.session.execute(delete(SyncState).where(SyncState.connection_id == connection.id))


def create_address_book(client, integration: Integration, name: str,
                        visibility: str) -> RemoteList:
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise BookError("Enter a name of at most 128 characters.")
    if is_system(name):
        raise BookError(f'"{name}" is reserved by dotdigital.')
    if visibility not in VISIBILITIES:
        raise BookError("Choose Private or Public.")
    if db.session.scalar(select(RemoteList.id).where(
            RemoteList.integration_id == integration.id,
            RemoteList.name.ilike(name))):
        raise BookError("An address book with this name already exists in this integration.")
    try:
        book = client.create_address_book(name, visibility)
    except ApiError as exc:
        raise BookError(f"dotdigital refused the address book: {exc.message}") from exc
    row = RemoteList(integration_id=integration.id, remote_id=str(book["id"]),
                     name=book.get("name") or name, visibility=book.get("visibility")
                     or visibility, member_count=int(book.get("contacts") or 0))
    db.session.add(row)
    db.session.commit()
    return row


def available_books(integration_id: int, connection_id: int | None = None) -> list[RemoteList]:
    """Books not linked to another list (one list ↔ one book)."""
    taken = select(ListConnection.remote_id).where(
        ListConnection.integration_id == integration_id)
    if connection_id is not None:
        taken = taken.where(ListConnection.id != connection_id)
    return list(db.session.scalars(select(RemoteList).where(
        RemoteList.integration_id == integration_id,
        RemoteList.remote_id.not_in(taken)).order_by(RemoteList.name)))
