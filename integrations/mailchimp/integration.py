"""The Mailchimp integration type (form, connection check, sync) and its email transport."""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup
from sqlalchemy import select

from extensions import db
from forms.mailchimp import MailchimpIntegrationForm
from integrations.http import ApiError
from integrations.http import AuthError
from integrations.mailchimp import audiences
from integrations.mailchimp import campaigns
from integrations.mailchimp.client import ApiKeyError
from integrations.mailchimp.client import MailchimpClient
from jobs.runner import JobError
from models.base import utcnow
from models.integrations import Integration
from models.integrations import ListConnection
from services.email_campaigns import transports
from services.integrations import IntegrationError
from services.integrations import IntegrationType
from services.integrations import register_type
from services.sync.runs import RunTracker

TYPE = "mailchimp"
SEND_ELSEWHERE = ("Sending happens in Mailchimp: send the campaign there to the list's "
                  "connected segment; it is imported here with its statistics once sent.")


def apply_form(integration: Integration, form: MailchimpIntegrationForm) -> None:
    integration.type = TYPE
    integration.name = form.name.data.strip()
    integration.enabled = bool(form.enabled.data)
    integration.default_owner_id = form.owner_id()
    if form.password.data:
        integration.api_secret = form.password.data.strip()
    integration.api_base_url = (form.api_base_url.data or "").strip()
    interval = form.activity_interval.data if form.activity_interval.data in \
        {k for k, _ in form.activity_interval.choices} else "90"
    integration.settings = dict(integration.settings or {},
                                activity_interval=int(interval),
                                two_way_sync=bool(form.two_way_sync.data),
                                sync_priority="local" if form.sync_priority.data == "local"
                                else "remote")


def form_data(integration: Integration) -> dict:
    settings = integration.settings or {}
    return {"activity_interval": str(settings.get("activity_interval", 90)),
            "two_way_sync": bool(settings.get("two_way_sync")),
            "sync_priority": settings.get("sync_priority", "remote")}


def client_for(integration: Integration, **kwargs) -> MailchimpClient:
    try:
        return MailchimpClient.for_integration(integration, **kwargs)
    except ApiKeyError as exc:
        raise IntegrationError(str(exc)) from exc


def check_connection(integration: Integration) -> str:
    if not integration.api_secret:
        raise IntegrationError("Enter the API key first.")
    # A check is interactive: fail fast rather than retry for a minute.
    client = client_for(integration, max_attempts=2, backoff_base=0.2)
    try:
        return client.ping() or "Connected."
    except AuthError as exc:
        raise IntegrationError(f"Mailchimp refused the API key: {exc.message}") from exc
    except ApiError as exc:
        raise IntegrationError(f"Mailchimp: {exc}") from exc


def schedule_sync(integration: Integration, user_id: int | None):
    from jobs.mailchimp import start_integration_sync

    return start_integration_sync(integration, user_id)


def run_targets(integration: Integration) -> list[str]:
    ids = db.session.scalars(select(ListConnection.id).where(
        ListConnection.integration_id == integration.id))
    return [f"{TYPE}:{integration.id}"] + [f"{TYPE}_list:{i}" for i in ids]


def sync_integration(integration: Integration, tracker: RunTracker | None = None) -> dict:
    """Audiences with their merge fields, segment check, then campaigns and activity."""
    client = client_for(integration)
    tracker = tracker or RunTracker(None, client)
    tracker.client = client
    try:
        tracker.phase("Connecting")
        client.ping()
        tracker.phase("Importing audiences")
        tracker.add(**audiences.sync_audiences(client, integration))
        tracker.add(segments_missing=audiences.check_segments(client, integration))
        campaigns.import_all(client, integration, tracker)
        integration.last_error = None
        integration.last_synced_at = utcnow()
    except ApiError as exc:
        db.session.rollback()
        integration.last_error = str(exc)
        raise
    finally:
        db.session.commit()
        tracker.flush()
    return tracker.counts


MAILCHIMP = register_type(IntegrationType(
    key=TYPE, label="Mailchimp", form=MailchimpIntegrationForm,
    fields_template="mailchimp/_integration_fields.html", apply_form=apply_form,
    check_connection=check_connection, schedule_sync=schedule_sync,
    job_kinds=("mailchimp_integration_sync", "mailchimp_list_sync"),
    run_targets=run_targets, form_data=form_data))


def _send(run, campaign) -> None:
    raise JobError(SEND_ELSEWHERE)


def _problems(campaign) -> list[str]:
    return [SEND_ELSEWHERE]


def _panel(campaign) -> Markup:
    """The Mailchimp Statistics block of an email campaign's page."""
    mc = campaigns.for_email_campaign(campaign.id)
    html = render_template("mailchimp/_campaign_stats.html", campaign=campaign, mc=mc,
                           state=campaigns.activities_state(mc) if mc else None)
    return Markup(html)  # noqa: S704 - rendered by Jinja with autoescaping


transports.register(transports.Transport("mailchimp", "Mailchimp", send=_send,
                                         problems=_problems, requires_template=False,
                                         panel=_panel, integration_type=TYPE))
