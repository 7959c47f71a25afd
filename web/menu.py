"""The navigation, as data. Entries whose feature is off or view is missing are hidden."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask import url_for
from flask_login import current_user

from services import settings


@dataclass(frozen=True)
class Entry:
    label: str
    endpoint: str
    feature: str | None = None
    permission: str = "view"
    children: tuple[Entry, ...] = ()


MENU: tuple[tuple[str, tuple[Entry, ...]], ...] = (
    ("Marketing", (
        Entry("Marketing Lists", "lists.lists_index", feature="marketing_list"),
        Entry("Campaigns", "campaigns.campaigns_index", feature="campaign"),
        Entry("Email Campaigns", "email_campaigns.email_campaigns_index", feature="campaign"),
        Entry("Tracking Websites", "tracking.websites_index", feature="tracking"),
        Entry("dotdigital", "", children=(
            Entry("Email Studio", "dotdigital.email_studio"),
            Entry("Data Fields", "dotdigital.data_fields_index"),
            Entry("Data Field Mappings", "dotdigital.mappings_index"),
        )),
    )),
    ("Records", (
        Entry("Contacts", "contacts.contacts_index"),
        Entry("Leads", "leads.leads_index"),
    )),
    ("System", (
        Entry("Integrations", "integrations.integrations_index", permission="admin"),
        Entry("Configuration", "configuration.configuration_index", permission="admin"),
        Entry("Users", "users.users_index", permission="admin"),
        Entry("Job runs", "jobs.jobs_index"),
    )),
)


def _visible(entry: Entry) -> bool:
    if entry.endpoint and entry.endpoint not in current_app.view_functions:
        return False
    if entry.feature and not settings.feature_enabled(entry.feature):
        return False
    return current_user.can(entry.permission)


def build_menu() -> list[dict]:
    """The menu for the current user: sections with their visible entries."""
    sections = []
    for title, entries in MENU:
        items = []
        for entry in entries:
            children = [{"label": c.label, "url": url_for(c.endpoint)}
                        for c in entry.children if _visible(c)]
            if entry.children:
                if children:
                    items.append({"label": entry.label, "children": children})
            elif _visible(entry):
                items.append({"label": entry.label, "url": url_for(entry.endpoint)})
        if items:
            sections.append({"title": title, "items": items})
    return sections
