"""Integrations (Dotdigital, Mailchimp) and the generic sync bookkeeping they share.

- ``Integration``: one configured connection to a remote account. Secrets are encrypted
  columns and never rendered back.
- ``RemoteList``: the remote lists known locally (Dotdigital address books, Mailchimp
  audiences or segments), refreshed by each integration sync.
- ``ListConnection``: one marketing list ↔ one remote list, per integration type.
- ``SyncState``: per (connection, record) what the remote side holds: remote id, the hash
  of the exported fields, the last remote status, and whether it needs exporting. It is
  written only after the remote side confirmed, so a retry never loses or duplicates.
- ``RemoteImport``: one asynchronous bulk write (e.g. a Dotdigital CSV import) in flight.
- ``DataField`` / ``FieldMapping`` / ``FieldMappingRow``: remote fields and which record
  fields feed them (Dotdigital data fields; Mailchimp merge fields can reuse them).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from extensions import db
from models.base import EncryptedText
from models.base import TimestampMixin
from models.base import UTCDateTime
from models.base import str_enum
from models.base import utcnow


class SyncStatus(enum.StrEnum):
    """A connection's status sentence, from its last export (Oro's six, plus one)."""

    NOT_SYNCED = "not_synced"
    IN_PROGRESS = "in_progress"
    UP_TO_DATE = "up_to_date"
    REJECTED = "rejected"
    FAILED = "failed"
    LIMIT_EXCEEDED = "limit_exceeded"
    REMOTE_MISSING = "remote_missing"

    @property
    def label(self) -> str:
        return {
            "not_synced": "Not Synced", "in_progress": "In Progress", "up_to_date": "Up to date",
            "rejected": "Sync Rejected", "failed": "Sync failed",
            "limit_exceeded": "dotdigital Contacts Limit Exceeds",
            "remote_missing": "Address book deleted remotely",
        }[self.value]


class Integration(TimestampMixin, db.Model):
    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("type", "name", name="uq_integrations_type_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))  # a key of services.integrations.TYPES
    name: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(default=True)
    default_owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    # Remote base URL; blank means the app's configured default for the type.
    api_base_url: Mapped[str] = mapped_column(String(500), default="")
    api_username: Mapped[str] = mapped_column(String(255), default="")
    api_secret: Mapped[str | None] = mapped_column(EncryptedText)  # password or API key
    oauth_client_id: Mapped[str] = mapped_column(String(255), default="")
    oauth_client_secret: Mapped[str | None] = mapped_column(EncryptedText)
    # Non-secret, type-specific settings (e.g. the custom OAuth domain).
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    # Last rate-limit window seen: {"limit", "remaining", "reset_seconds", "seen_at"}.
    rate_info: Mapped[dict] = mapped_column(JSON, default=dict)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fields_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    default_owner = relationship("User", lazy="joined")

    @property
    def status_label(self) -> str:
        return "Active" if self.enabled else "Inactive"


class RemoteList(db.Model):
    __tablename__ = "integration_remote_lists"
    __table_args__ = (UniqueConstraint("integration_id", "remote_id",
                                       name="uq_integration_remote_lists_remote"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id",
                                                           ondelete="CASCADE"))
    remote_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    visibility: Mapped[str] = mapped_column(String(20), default="")
    member_count: Mapped[int] = mapped_column(default=0)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListConnection(db.Model):
    __tablename__ = "integration_list_connections"
    __table_args__ = (
        # One list per integration type, one remote list per marketing list.
        UniqueConstraint("integration_type", "marketing_list_id",
                         name="uq_integration_list_connections_list"),
        UniqueConstraint("integration_id", "remote_id",
                         name="uq_integration_list_connections_remote"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id",
                                                           ondelete="CASCADE"))
    integration_type: Mapped[str] = mapped_column(String(20))
    marketing_list_id: Mapped[int] = mapped_column(ForeignKey("marketing_lists.id",
                                                              ondelete="CASCADE"))
    remote_id: Mapped[str] = mapped_column(String(64))
    remote_name: Mapped[str] = mapped_column(String(255), default="")
    create_entities: Mapped[bool] = mapped_column(default=False)
    sync_status: Mapped[SyncStatus] = mapped_column(str_enum(SyncStatus),
                                                    default=SyncStatus.NOT_SYNCED)
    sync_message: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Cursors: the start of the last successful run of each direction.
    export_cursor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    import_cursor: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    integration = relationship("Integration", lazy="joined")
    marketing_list = relationship("MarketingList", lazy="joined")

    @property
    def job_target(self) -> str:
        return f"{self.integration_type}_list:{self.id}"


class SyncState(db.Model):
    __tablename__ = "integration_sync_states"
    __table_args__ = (
        UniqueConstraint("connection_id", "entity_id", name="uq_integration_sync_states_entity"),
        Index("ix_integration_sync_states_email", "connection_id", "email"),
        Index("ix_integration_sync_states_pending", "pending_import_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("integration_list_connections.id",
                                                          ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column()
    email: Mapped[str] = mapped_column(String(254))
    remote_id: Mapped[str | None] = mapped_column(String(64))
    # Hash of what the remote side confirmed holding; NULL until a first confirmed export.
    fields_hash: Mapped[str | None] = mapped_column(String(40))
    # Subscribed, Unsubscribed, Suppressed, HardBounced...: the remote's word.
    remote_status: Mapped[str | None] = mapped_column(String(40))
    needs_export: Mapped[bool] = mapped_column(default=True)
    # The bulk write this row went out in, and the hash it carried, until confirmed.
    pending_import_id: Mapped[str | None] = mapped_column(String(64))
    pending_hash: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RemoteImport(db.Model):
    __tablename__ = "integration_remote_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("integration_list_connections.id",
                                                          ondelete="CASCADE"), index=True)
    import_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(40), default="NotFinished")
    rows: Mapped[int] = mapped_column(default=0)
    polls: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    faults: Mapped[int] = mapped_column(default=0)
    done: Mapped[bool] = mapped_column(default=False)  # settled and its rows applied
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DataField(db.Model):
    __tablename__ = "integration_data_fields"
    __table_args__ = (UniqueConstraint("integration_id", "name",
                                       name="uq_integration_data_fields_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id",
                                                           ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(20), default="String")
    visibility: Mapped[str] = mapped_column(String(20), default="Private")
    default_value: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str] = mapped_column(Text, default="")
    system: Mapped[bool] = mapped_column(default=False)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    integration = relationship("Integration", lazy="joined")


class FieldMapping(db.Model):
    __tablename__ = "integration_field_mappings"
    __table_args__ = (UniqueConstraint("integration_id", "entity",
                                       name="uq_integration_field_mappings_entity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id",
                                                           ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(40))  # a key of services.records.RECORD_TYPES
    sync_priority: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    integration = relationship("Integration", lazy="joined")
    rows = relationship("FieldMappingRow", cascade="all, delete-orphan", lazy="selectin",
                        order_by="FieldMappingRow.id")


class FieldMappingRow(db.Model):
    __tablename__ = "integration_field_mapping_rows"
    __table_args__ = (UniqueConstraint("mapping_id", "data_field_id",
                                       name="uq_integration_field_mapping_rows_field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mapping_id: Mapped[int] = mapped_column(ForeignKey("integration_field_mappings.id",
                                                       ondelete="CASCADE"))
    data_field_id: Mapped[int] = mapped_column(ForeignKey("integration_data_fields.id",
                                                          ondelete="CASCADE"))
    # Comma-separated registry field keys; several are joined with spaces.
    entity_fields: Mapped[str] = mapped_column(String(500))
    two_way: Mapped[bool] = mapped_column(default=False)

    data_field = relationship("DataField", lazy="joined")

    @property
    def field_keys(self) -> list[str]:
        return [k for k in self.entity_fields.split(",") if k]
