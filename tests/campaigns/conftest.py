"""Fixtures for email campaigns: a real SMTP server and the settings pointing at it."""

from __future__ import annotations

import pytest

from services import settings
from tests.campaigns.smtp_server import SmtpServer

PUBLIC_URL = "https://mail.listbridge.test"


def configure(port: int, **extra) -> None:
    settings.save({"smtp.host": "127.0.0.1", "smtp.port": port,
                   "general.public_url": PUBLIC_URL, **extra})


@pytest.fixture
def smtp(app):
    """A running aiosmtpd server, configured as the app's SMTP server; yields its handler."""
    with SmtpServer() as server:
        configure(server.port)
        server.handler.port = server.port
        yield server.handler
