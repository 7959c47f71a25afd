"""Email Studio in Chromium: connect through the emulator's consent page, see the embedded
dotdigital app, disconnect."""

from __future__ import annotations

import pytest

from emulators.dotdigital_oauth import DEFAULT_APP_PASSWORD
from emulators.dotdigital_oauth import DEFAULT_APP_USER
from emulators.dotdigital_oauth import DEFAULT_CLIENT_ID
from emulators.dotdigital_oauth import DEFAULT_CLIENT_SECRET
from extensions import db
from tests import factories_dotdigital as dd_factories
from tests.emulators.conftest import _dotdigital_live  # noqa: F401
from tests.emulators.conftest import dotdigital_server  # noqa: F401

pytestmark = pytest.mark.e2e


def test_connect_email_studio_see_the_app_and_disconnect(logged_in_page, live_server,
                                                         dotdigital_server):  # noqa: F811
    page = logged_in_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    dd = dd_factories.integration(dotdigital_server, name="Studio",
                                  oauth_client_id=DEFAULT_CLIENT_ID,
                                  oauth_client_secret=DEFAULT_CLIENT_SECRET)
    dd.settings = {"custom_domain": dotdigital_server}
    db.session.commit()

    page.goto(live_server.url + "/")
    # The boosted menu link (htmx navigation) turns into a full page load.
    page.locator("nav >> text=Email Studio").evaluate("link => link.click()")
    page.wait_for_selector("[data-testid=sso-connect]")
    page.click("[data-testid=sso-connect]")
    page.wait_for_url(f"{dotdigital_server}/OAuth2/authorise.aspx*")
    page.fill("input[name=username]", DEFAULT_APP_USER)
    page.fill("input[name=password]", DEFAULT_APP_PASSWORD)
    page.click("button[value=allow]")
    page.wait_for_url(f"{live_server.url}/dotdigital/email-studio*")
    page.wait_for_selector(f"text=Connected to dotdigital through {dd.name}")
    frame_element = page.wait_for_selector("iframe[data-testid=sso-frame]")
    frame = frame_element.content_frame()
    frame.wait_for_selector("[data-testid=dotdigital-app]")
    assert DEFAULT_APP_USER in frame.inner_text("body")

    page.click("[data-testid=sso-disconnect]")
    page.wait_for_selector("[data-testid=sso-connect]")
    assert page.query_selector("iframe[data-testid=sso-frame]") is None
    assert errors == []
