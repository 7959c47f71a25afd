"""Transports: how an email campaign goes out, as a registry.

"email" sends over SMTP from here. The Dotdigital and Mailchimp integrations register
their own transports (``register(Transport(...))``) that hand the campaign to the remote
service; the form lists whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Transport:
    key: str
    label: str
    # fn(run, campaign) -> None: sends the campaign; raises jobs.runner.JobError to fail.
    send: Callable
    # fn(campaign) -> list of messages saying why it cannot be sent now (empty: it can).
    problems: Callable = lambda campaign: []
    requires_template: bool = True
    # Shown in the form; False for transports that only mirror imported campaigns.
    selectable: bool = True
    # fn(campaign) -> Markup: a block for the campaign's view page (e.g. remote statistics).
    panel: Callable | None = None
    # The integration type (services.integrations TYPES key) a campaign of this transport
    # goes through; the form then asks for one, stored as transport_settings["integration_id"].
    integration_type: str | None = None


TRANSPORTS: dict[str, Transport] = {}


def register(transport: Transport) -> Transport:
    TRANSPORTS[transport.key] = transport
    return transport


def get(key: str) -> Transport | None:
    return TRANSPORTS.get(key)


def choices() -> list[tuple[str, str]]:
    return [(t.key, t.label) for t in TRANSPORTS.values() if t.selectable]


def render_panel(campaign) -> str:
    """The campaign's transport block for its view page ("" when the transport has none)."""
    transport = TRANSPORTS.get(campaign.transport)
    return transport.panel(campaign) if transport is not None and transport.panel else ""
