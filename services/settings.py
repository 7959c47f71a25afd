"""System configuration: setting definitions as data, values in the database.

Areas declare their settings with ``define()``; System > Configuration renders every
section from these definitions, so a new settings page is a few ``define`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from flask import g
from flask import has_request_context
from sqlalchemy import select

from extensions import db
from models.settings import Setting


@dataclass(frozen=True)
class SettingDef:
    key: str
    label: str
    default: object
    section: str  # the configuration page it appears on
    group: str  # the fieldset inside that page
    kind: str = "bool"  # bool | str | email | int | choice | secret
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    depends_on: str | None = None  # a bool setting that must be on for this one to matter
    required: bool = False


@dataclass
class Section:
    id: str
    title: str
    settings: list[SettingDef] = field(default_factory=list)


SECTIONS: dict[str, Section] = {}
DEFINITIONS: dict[str, SettingDef] = {}


def section(section_id: str, title: str) -> Section:
    return SECTIONS.setdefault(section_id, Section(section_id, title))


def define(setting: SettingDef) -> SettingDef:
    DEFINITIONS[setting.key] = setting
    SECTIONS[setting.section].settings.append(setting)
    return setting


def _stored() -> dict[str, object]:
    # One query per request however many settings a page reads.
    if has_request_context() and "_settings" in g:
        return g._settings
    values = {row.key: row.value for row in db.session.scalars(select(Setting))}
    if has_request_context():
        g._settings = values
    return values


def get(key: str):
    definition = DEFINITIONS[key]
    return _stored().get(key, definition.default)


def save(values: dict[str, object]) -> None:
    for key, value in values.items():
        if key not in DEFINITIONS:
            raise KeyError(key)
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=value))
        else:
            row.value = value
    db.session.commit()
    if has_request_context():
        g.pop("_settings", None)


# Marketing > General Setup > Features: the four feature switches.
FEATURES = {
    "marketing_list": "marketing_list.feature_enabled",
    "campaign": "campaign.feature_enabled",
    "tracking": "tracking.feature_enabled",
    "marketing_activity": "marketing_activity.feature_enabled",
}

section("marketing_features", "Marketing > General Setup > Features")
define(SettingDef("marketing_list.feature_enabled", "Enable Marketing List", True,
                  "marketing_features", "Marketing Features"))
define(SettingDef("campaign.feature_enabled", "Enable Campaign Features", True,
                  "marketing_features", "Marketing Features"))
define(SettingDef("tracking.feature_enabled", "Enable Tracking", True,
                  "marketing_features", "Marketing Features"))
define(SettingDef("marketing_activity.feature_enabled", "Enable Marketing Activities Features",
                  True, "marketing_features", "Marketing Features",
                  help="Needs Enable Campaign Features.",
                  depends_on="campaign.feature_enabled"))


# General Setup > Application: where people reach this application from outside.
section("general_application", "General Setup > Application")
define(SettingDef("general.public_url", "Application URL", "", "general_application",
                  "Application", kind="str",
                  help="The address users, tracked sites and email recipients reach this "
                       "application at, e.g. https://marketing.example.com. Tracking snippets, "
                       "the open pixel, tracked links and unsubscribe links start with it."))


def public_url() -> str:
    """The configured Application URL without a trailing slash ("" when unset)."""
    return (get("general.public_url") or "").strip().rstrip("/")


def feature_enabled(name: str) -> bool:
    key = FEATURES[name]
    if not get(key):
        return False
    depends = DEFINITIONS[key].depends_on
    return bool(get(depends)) if depends else True
