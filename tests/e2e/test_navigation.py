"""Log in, open every menu entry, log out; a viewer sees no change buttons."""

import pytest

from models.users import Role
from tests import factories
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e


def _menu_links(page) -> list[str]:
    return page.eval_on_selector_all("nav.sidebar a", "links => links.map(a => a.href)")


def test_admin_logs_in_opens_every_menu_entry_and_logs_out(page, live_server):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    admin = factories.user(role=Role.ADMIN)
    login(page, live_server, admin)
    links = _menu_links(page)
    assert any(link.endswith("/users/") for link in links)
    assert any(link.endswith("/configuration/") for link in links)
    for link in links:
        response = page.goto(link)
        assert response.status == 200, link
        assert page.locator("main#main h1").count() >= 1, link
    # hx-boost: a menu click swaps the page without a full reload.
    page.goto(live_server.url + "/")
    page.click("nav.sidebar a[href='/users/']")
    page.wait_for_url(live_server.url + "/users/")
    assert page.locator("h1").first.inner_text() == "Users"
    page.click("[data-testid=logout]")
    page.wait_for_url(f"{live_server.url}/login")
    assert page.goto(live_server.url + "/").url.startswith(f"{live_server.url}/login")
    assert errors == []


def test_a_viewer_sees_no_change_buttons(page, live_server):
    viewer = factories.user(role=Role.VIEWER)
    login(page, live_server, viewer)
    links = _menu_links(page)
    assert not any(link.endswith("/users/") for link in links)
    for link in [*links, live_server.url + "/"]:
        page.goto(link)
        # The only form a viewer may submit is the logout button.
        actions = page.eval_on_selector_all(
            "main form[method=post], main [hx-post], main [hx-delete], main [hx-put]",
            "els => els.map(e => e.outerHTML.slice(0, 120))")
        assert actions == [], (link, actions)


def test_admin_creates_a_user_through_the_htmx_form(logged_in_page, live_server):
    page = logged_in_page
    page.goto(live_server.url + "/users/")
    page.fill("#user-create input[name=email]", "not-an-email")
    page.fill("#user-create input[name=password]", "short")
    page.click("#user-create button[type=submit]")
    page.wait_for_selector("#user-create small.error")
    assert "Invalid email address." in page.inner_text("#user-create")
    page.fill("#user-create input[name=email]", "new.marketer@example.com")
    page.fill("#user-create input[name=password]", "long-enough-password")
    page.click("#user-create button[type=submit]")
    page.wait_for_selector("text=User new.marketer@example.com created.")
    assert "new.marketer@example.com" in page.inner_text("#users-table")
