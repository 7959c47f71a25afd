"""In Chromium: choosing the dotdigital transport brings the Integration select in place."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from extensions import db
from models.email_campaigns import EmailCampaign
from tests import factories_campaigns as fc
from tests import factories_dotdigital as fd

pytestmark = pytest.mark.e2e


def test_transport_change_asks_for_the_integration(logged_in_page, live_server):
    page = logged_in_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    fc.marketing_list(name="Readers")
    dotdigital = fd.integration("http://127.0.0.1:9", name="DD production")

    page.goto(f"{live_server.url}/email-campaigns/new")
    assert page.locator("#integration_id").count() == 0
    page.fill("input[name=name]", "Spring promo")
    page.select_option("#marketing_list_id", label="Readers")
    page.select_option("#transport", "dotdigital")
    page.wait_for_selector("#integration_id")
    page.click("#email-campaign-form button[type=submit]")
    page.wait_for_selector("text=Choose the dotdigital integration.")
    page.select_option("#integration_id", label="DD production")
    page.click("#email-campaign-form button[type=submit]")
    page.wait_for_selector("[data-testid=campaign-integration]")
    assert page.locator("[data-testid=campaign-integration]").inner_text() == "DD production"
    row = db.session.scalar(select(EmailCampaign))
    assert row.transport_settings == {"integration_id": dotdigital.id}

    page.goto(f"{live_server.url}/email-campaigns/{row.id}/edit")
    page.select_option("#transport", "email")
    page.wait_for_selector("#integration_id", state="detached")
    assert errors == []
