"""Create the Dotdigital integration in Chromium, connect a list, synchronize, see Up to date."""

from __future__ import annotations

import pytest

from tests import factories_dotdigital as dd_factories
from tests.emulators.conftest import _dotdigital_live  # noqa: F401
from tests.emulators.conftest import dotdigital_server  # noqa: F401

pytestmark = pytest.mark.e2e


def test_integration_connect_and_synchronize(app, logged_in_page, live_server,
                                            dotdigital_server):  # noqa: F811
    page = logged_in_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    dd_factories.seed(dotdigital_server, address_books=[{"name": "Newsletter"}])
    mlist, rows = dd_factories.contact_list(3)

    page.goto(live_server.url + "/integrations/")
    page.click("[data-testid=create-dotdigital]")
    page.fill("input[name=name]", "Emulator")
    page.fill("input[name=username]", "demo@apiconnector.com")
    page.fill("input[name=password]", "wrong-password")
    page.fill("input[name=api_base_url]", dotdigital_server)
    page.click("[data-testid=check-connection]")
    page.wait_for_selector("#check-result[data-ok=false]")
    assert "Authorization has been denied" in page.inner_text("#check-result")
    page.fill("input[name=password]", "demo-password-1")
    page.click("[data-testid=check-connection]")
    page.wait_for_selector("#check-result[data-ok=true]")
    assert "Connection successful!" in page.inner_text("#check-result")
    page.click("[data-testid=save-integration]")
    page.wait_for_selector("text=Integration Emulator saved.")
    assert "dotdigital integration sync" in page.inner_text("#sync-history").replace("_", " ")

    page.goto(f"{live_server.url}/marketing-lists/{mlist.id}")
    page.click("[data-testid=dd-connect]")
    page.wait_for_selector("#dd-connect-form")
    page.select_option("#dd-connect-form select[name=address_book]", label="Newsletter")
    # The first export runs in a background thread, as under a worker, and its import
    # status polls are slowed: the panel shows the run's progress until it is done.
    app.config["JOBS_IN_PROCESS_MODE"] = "thread"
    dd_factories.control(dotdigital_server, "faults", {
        "delay": 1.5, "delay_rate": 1.0, "paths": ["/v2/contacts/import/"]})
    page.click("[data-testid=dd-connect-submit]")
    progress = page.wait_for_selector("#dotdigital-panel .job-progress[data-status=running]")
    assert progress.inner_text().startswith("Dotdigital list sync")
    assert page.inner_text("#dotdigital-panel .job-progress .phase").strip()
    page.wait_for_selector("#dotdigital-panel[data-status=up_to_date]", timeout=60_000)
    assert page.query_selector("#dotdigital-panel .job-progress[data-status=running]") is None
    dd_factories.control(dotdigital_server, "faults", {})
    app.config["JOBS_IN_PROCESS_MODE"] = "sync"
    assert 'linked to "Newsletter"' in page.inner_text("[data-testid=dd-status]")
    assert dd_factories.book_members(dotdigital_server, "Newsletter") == sorted(
        r.email for r in rows)

    page.click("[data-testid=dd-menu] summary")
    page.click("[data-testid=dd-synchronize]")
    page.wait_for_selector("text=Marketing List scheduled to synchronize with dotdigital")
    page.wait_for_selector("#dotdigital-panel[data-status=up_to_date]")
    assert "Up to date" in page.inner_text("[data-testid=dd-status]")
    assert errors == []
