"""System > Configuration > Integrations > MailChimp Settings (features.md §6.5)."""

from __future__ import annotations

from services import settings

SYNC_MODE_KEY = "mailchimp.static_segment_sync_mode"
ON_UPDATE, SCHEDULED = "on_update", "scheduled"
EXPORT_CRON = "*/5 * * * *"  # the mailchimp_export entry of jobs/schedule.py

settings.section("mailchimp", "Integrations > MailChimp Settings")
settings.define(settings.SettingDef(
    SYNC_MODE_KEY, "Static Segment Synchronization Mode", ON_UPDATE, "mailchimp",
    "Synchronization settings", kind="choice",
    choices=((ON_UPDATE, "On data update"), (SCHEDULED, f"Scheduled ({EXPORT_CRON})")),
    help="On data update: a connected list is synchronized within a minute of a change, and "
         "by the schedule. Scheduled: only by the schedule."))


def sync_mode() -> str:
    return settings.get(SYNC_MODE_KEY) or ON_UPDATE
