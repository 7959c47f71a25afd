"""System > Configuration > Integrations > dotdigital Settings (features.md §5.6)."""

from __future__ import annotations

import re
from datetime import timedelta

from services import settings

FORCE_SYNC_KEY = "dotdigital.force_sync_for_virtual_fields"
INTERVAL_KEY = "dotdigital.datafields_sync_interval"
FORCE_NONE, FORCE_VIRTUAL, FORCE_ALL = "none", "virtual_only", "always"
DEFAULT_INTERVAL = timedelta(days=1)
_UNITS = {"minute": 60, "min": 60, "hour": 3600, "day": 86400, "week": 604800}
_INTERVAL = re.compile(r"^\s*(\d+)\s*(minute|min|hour|day|week)s?\s*$", re.IGNORECASE)

settings.section("dotdigital", "Integrations > dotdigital Settings")
settings.define(settings.SettingDef(
    FORCE_SYNC_KEY, "Enable Daily Force Synchronization of Mapped Data Fields", FORCE_VIRTUAL,
    "dotdigital", "Synchronization settings", kind="choice",
    choices=((FORCE_NONE, "None"), (FORCE_VIRTUAL, "For mappings with virtual fields only"),
             (FORCE_ALL, "For all mappings")),
    help="Once a day, members of the lists of affected record types are queued for export."))
settings.define(settings.SettingDef(
    INTERVAL_KEY, "Data Fields Sync Interval", "1 day", "dotdigital",
    "Synchronization settings", kind="str",
    help='For example "1 day" or "12 hours". Data-field import waits this long between runs; '
         "the Synchronize button on the Data Fields page ignores it."))


def parse_interval(text: str | None) -> timedelta | None:
    match = _INTERVAL.match(text or "")
    if not match:
        return None
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])


def data_fields_interval() -> timedelta:
    return parse_interval(settings.get(INTERVAL_KEY)) or DEFAULT_INTERVAL


def force_sync_mode() -> str:
    return settings.get(FORCE_SYNC_KEY) or FORCE_VIRTUAL
