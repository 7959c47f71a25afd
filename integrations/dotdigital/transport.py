"""The "dotdigital" email-campaign transport: campaigns are sent in Dotdigital, not here.

Imported campaigns carry it; its panel is the dotdigital Statistics block of the email
campaign's page (services.email_campaigns.transports renders it).
"""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from extensions import db
from integrations.dotdigital import campaigns
from integrations.dotdigital import stats
from jobs.runner import JobError
from models.integrations import Integration
from services.email_campaigns import transports

SEND_ELSEWHERE = ("Sending happens in dotdigital: send the campaign there to the list's "
                  "connected address book; it is imported here with its statistics once sent.")


def integration_of(campaign) -> Integration | None:
    raw = (campaign.transport_settings or {}).get("integration_id")
    integration = db.session.get(Integration, raw) if isinstance(raw, int) else None
    return integration if integration is not None and integration.type == "dotdigital" else None


def _send(run, campaign) -> None:
    raise JobError(SEND_ELSEWHERE)


def _problems(campaign) -> list[str]:
    return [SEND_ELSEWHERE]


def _panel(campaign) -> Markup:
    dc = campaigns.for_email_campaign(campaign.id)
    html = render_template("dotdigital/_campaign_stats.html", campaign=campaign, dc=dc,
                           integration=integration_of(campaign), stats=stats,
                           summary=(dc.summary if dc else None) or {})
    return Markup(html)  # noqa: S704 - rendered by Jinja with autoescaping


DOTDIGITAL = transports.register(transports.Transport(
    campaigns.TRANSPORT, "dotdigital", send=_send, problems=_problems,
    requires_template=False, panel=_panel, integration_type="dotdigital"))
