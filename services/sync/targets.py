"""What a sync run works on: JobRun targets and the integration a job was given.

Shared by every integration's jobs so that "one sync per integration and per list at a
time" means the same target strings everywhere (see the JobRun partial unique index).
"""

from __future__ import annotations

from extensions import db
from jobs.runner import JobError
from models.integrations import Integration


def integration_target(type_key: str, integration_id: int) -> str:
    return f"{type_key}:{integration_id}"


def list_target(type_key: str, connection_id: int) -> str:
    return f"{type_key}_list:{connection_id}"


def load_integration(type_key: str, label: str, integration_id: int) -> Integration:
    """The integration of ``type_key``, or a JobError the run shows if it is gone."""
    integration = db.session.get(Integration, integration_id)
    if integration is None or integration.type != type_key:
        raise JobError(f"{label} integration {integration_id} no longer exists")
    return integration
