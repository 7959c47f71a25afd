"""The Dotdigital integration type: its form, connection check and sync, registered once."""

from __future__ import annotations

from forms.dotdigital import DotdigitalIntegrationForm
from integrations.dotdigital.client import DotdigitalClient
from integrations.http import ApiError
from integrations.http import AuthError
from models.integrations import Integration
from services.integrations import IntegrationError
from services.integrations import IntegrationType
from services.integrations import register_type

TYPE = "dotdigital"


def apply_form(integration: Integration, form: DotdigitalIntegrationForm) -> None:
    integration.type = TYPE
    integration.name = form.name.data.strip()
    integration.enabled = bool(form.enabled.data)
    integration.default_owner_id = form.owner_id()
    integration.api_username = form.username.data.strip()
    if form.password.data:
        integration.api_secret = form.password.data
    integration.oauth_client_id = (form.client_id.data or "").strip()
    if form.client_secret.data:
        integration.oauth_client_secret = form.client_secret.data
    integration.api_base_url = (form.api_base_url.data or "").strip()
    integration.settings = dict(integration.settings or {},
                                custom_domain=(form.custom_domain.data or "").strip())


def check_connection(integration: Integration) -> str:
    if not integration.api_username or not integration.api_secret:
        raise IntegrationError("Enter the username and password first.")
    # A check is interactive: fail fast rather than retry for a minute.
    client = DotdigitalClient.for_integration(integration, max_attempts=2, backoff_base=0.2)
    try:
        account = client.discover()
        client.get("/v2/address-books", params={"select": 1, "skip": 0})
    except AuthError as exc:
        raise IntegrationError(f"dotdigital refused the credentials: {exc.message}") from exc
    except ApiError as exc:
        raise IntegrationError(f"dotdigital: {exc}") from exc
    name = account["properties"].get("Name") or ""
    return "Connection successful!" + (f" ({name}, {account['endpoint']})" if name else "")


def schedule_sync(integration: Integration, user_id: int | None):
    from jobs.dotdigital import start_integration_sync

    return start_integration_sync(integration, user_id, force_fields=False)


def run_targets(integration: Integration) -> list[str]:
    from sqlalchemy import select

    from extensions import db
    from models.integrations import ListConnection

    ids = db.session.scalars(select(ListConnection.id).where(
        ListConnection.integration_id == integration.id))
    return [f"{TYPE}:{integration.id}"] + [f"{TYPE}_list:{i}" for i in ids]


DOTDIGITAL = register_type(IntegrationType(
    key=TYPE, label="dotdigital", form=DotdigitalIntegrationForm,
    fields_template="dotdigital/_integration_fields.html", apply_form=apply_form,
    check_connection=check_connection, schedule_sync=schedule_sync,
    job_kinds=("dotdigital_integration_sync", "dotdigital_list_sync"),
    run_targets=run_targets))
