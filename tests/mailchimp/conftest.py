"""Mailchimp tests talk real HTTP to the emulator (fixtures shared with tests/emulators)."""

import pytest

from tests.emulators.conftest import _mailchimp_live  # noqa: F401
from tests.emulators.conftest import mailchimp_server  # noqa: F401


@pytest.fixture(autouse=True)
def _app_context(app):
    """Every test here works on the database: run it inside the test app."""
    yield app
