"""Tracking settings (System Configuration > General Setup > Tracking) and a short cache.

The collector reads these on every hit; a few seconds of staleness across processes is
the price of not querying the settings table per hit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app

from services import settings
from services.settings import SettingDef

SECTION = "tracking"
DYNAMIC = "tracking.dynamic_tracking_enabled"
AGGREGATION = "tracking.precalculated_statistic_enabled"
ROTATION = "tracking.log_rotate_interval"
PIWIK_HOST = "tracking.piwik_host"
PIWIK_TOKEN = "tracking.piwik_token_auth"  # noqa: S105 - a setting key

ROTATION_CHOICES = (("60", "1 hour"), ("30", "30 minutes"), ("20", "20 minutes"),
                    ("15", "15 minutes"), ("10", "10 minutes"), ("5", "5 minutes"))

settings.section(SECTION, "General Setup > Tracking")
_GROUP = "Tracking settings"
settings.define(SettingDef(
    DYNAMIC, "Enable Dynamic Tracking", False, SECTION, _GROUP,
    help="Each hit is recorded as it arrives. Off: hits are queued and processed on the "
         "Log Rotation Interval (immediately anyway when the app runs without Redis)."))
settings.define(SettingDef(
    AGGREGATION, "Enable Tracking Statistics Aggregation", True, SECTION, _GROUP,
    help="Pre-aggregates daily and monthly event statistics every night."))
settings.define(SettingDef(
    ROTATION, "Log Rotation Interval", "60", SECTION, _GROUP, kind="choice",
    choices=ROTATION_CHOICES, required=True,
    help="How often queued hits are processed when dynamic tracking is off."))
settings.define(SettingDef(
    PIWIK_HOST, "Piwik Host", "", SECTION, _GROUP, kind="str",
    help="Matomo/Piwik URL, e.g. https://matomo.example.com. When set, every hit is also "
         "forwarded there; website Identifiers must equal the Matomo Website IDs."))
settings.define(SettingDef(
    PIWIK_TOKEN, "Piwik Token Auth", "", SECTION, _GROUP, kind="secret",
    help="Matomo API token; lets the real client IP be passed on. Stored encrypted; leave "
         "blank to keep the current token."))


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool
    dynamic: bool
    forward: bool


_TTL = 5.0
_cache: dict[int, tuple[float, TrackingConfig]] = {}


def current() -> TrackingConfig:
    """The settings the collector needs, cached per app for a few seconds."""
    app = current_app._get_current_object()
    key = id(app)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit and hit[0] > now and not app.config.get("TESTING"):
        return hit[1]
    value = TrackingConfig(enabled=settings.feature_enabled("tracking"),
                           dynamic=bool(settings.get(DYNAMIC)),
                           forward=bool((settings.get(PIWIK_HOST) or "").strip()))
    _cache[key] = (now + _TTL, value)
    return value


def rotation_minutes() -> int:
    try:
        return int(settings.get(ROTATION))
    except (TypeError, ValueError):
        return 60


def piwik_token() -> str:
    from services import crypto

    stored = settings.get(PIWIK_TOKEN) or ""
    return crypto.decrypt(stored) if stored else ""
