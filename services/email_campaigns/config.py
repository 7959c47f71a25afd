"""System > Configuration pages for email campaigns: the Campaign sender and SMTP.

SMTP fields left blank fall back to the server's environment (SMTP_HOST, SMTP_PORT, ...,
docs/configuration.md), so operators set the deployment's relay once and admins can
still point one installation elsewhere. The password is never stored here: it comes
from SMTP_PASSWORD, as secrets are not rendered back into forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from email_validator import EmailNotValidError
from email_validator import validate_email
from flask import current_app

from services import settings
from services.settings import SettingDef

SENDER_SECTION = "email_configuration"
SMTP_SECTION = "smtp"

settings.section(SENDER_SECTION, "General Setup > Email Configuration")
settings.define(SettingDef("campaign.sender_email", "Sender Email", "no-reply@listbridge.example",
                           SENDER_SECTION, "Campaign", kind="email", required=True,
                           help="Used by email campaigns that leave Sender Email empty."))
settings.define(SettingDef("campaign.sender_name", "Sender Name", "Listbridge", SENDER_SECTION,
                           "Campaign", kind="str", required=True,
                           help="Used by email campaigns that leave Sender Name empty."))

settings.section(SMTP_SECTION, "General Setup > SMTP Settings")
settings.define(SettingDef("smtp.host", "Host", "", SMTP_SECTION, "SMTP Settings", kind="str",
                           help="Blank: the SMTP_HOST environment variable."))
settings.define(SettingDef("smtp.port", "Port", "", SMTP_SECTION, "SMTP Settings", kind="int",
                           help="Blank: the SMTP_PORT environment variable."))
settings.define(SettingDef("smtp.security", "Encryption", "env", SMTP_SECTION, "SMTP Settings",
                           kind="choice", choices=(("env", "As the environment (SMTP_STARTTLS)"),
                                                   ("none", "None"), ("starttls", "STARTTLS"),
                                                   ("ssl", "SSL/TLS"))))
settings.define(SettingDef("smtp.username", "User", "", SMTP_SECTION, "SMTP Settings",
                           kind="str", help="Blank: SMTP_USERNAME. The password is always "
                                            "SMTP_PASSWORD from the environment."))
settings.define(SettingDef("smtp.batch_size", "Batch size", 500, SMTP_SECTION, "SMTP Settings",
                           kind="int", help="Recipients read and recorded per batch; one "
                                            "connection is reused for the whole campaign."))
settings.define(SettingDef("smtp.window", "In-flight window", 20, SMTP_SECTION, "SMTP Settings",
                           kind="int", help="Recipients marked as being sent per database "
                                            "commit. A killed worker leaves at most this many "
                                            "unconfirmed (never sent twice); 1 is strictest, "
                                            "larger is faster."))


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # none | starttls | ssl
    username: str | None
    password: str | None
    timeout: float
    batch_size: int
    window: int


def smtp_config() -> SmtpConfig:
    config = current_app.config
    security = settings.get("smtp.security")
    if security == "env":
        security = "starttls" if config.get("SMTP_STARTTLS") else "none"
    batch = settings.get("smtp.batch_size")
    return SmtpConfig(
        host=settings.get("smtp.host") or config.get("SMTP_HOST") or "",
        port=int(settings.get("smtp.port") or config.get("SMTP_PORT") or 25),
        security=security,
        username=settings.get("smtp.username") or config.get("SMTP_USERNAME"),
        password=config.get("SMTP_PASSWORD"),
        timeout=float(config.get("SMTP_TIMEOUT") or 30),
        batch_size=max(1, min(int(batch or 500), 10_000)),
        window=max(1, min(int(settings.get("smtp.window") or 20), 100)),
    )


def public_url() -> str:
    return settings.public_url()


def default_sender() -> tuple[str, str]:
    return settings.get("campaign.sender_email"), settings.get("campaign.sender_name")


def problems() -> list[str]:
    """Why email campaigns cannot be sent with the current configuration (empty: they can)."""
    found = []
    url = urlsplit(public_url())
    if url.scheme not in ("http", "https") or not url.netloc:
        found.append("Set the Application URL (System > Configuration > General Setup > "
                     "Application) so tracking and unsubscribe links work.")
    email, name = default_sender()
    try:
        validate_email(email or "", check_deliverability=False)
    except EmailNotValidError:
        found.append("The Campaign Sender Email in System > Configuration is not valid.")
    if not (name or "").strip():
        found.append("The Campaign Sender Name in System > Configuration is empty.")
    if not smtp_config().host:
        found.append("No SMTP host is configured.")
    return found
