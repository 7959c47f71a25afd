"""Import a CSV, build a dynamic list with the filter builder, work its members."""

import pytest
from sqlalchemy import select

from extensions import db
from models.contacts import Contact

pytestmark = pytest.mark.e2e

CSV = ("email,first name,last name,company\n"
       "ada@example.com,Ada,Lovelace,Acme\n"
       "grace@example.com,Grace,Hopper,ACME\n"
       "bob@example.com,Bob,Builder,Globex\n"
       "broken,Bad,Row,Acme\n")


def _settled(page) -> None:
    """Wait until htmx has no request in flight, so the next input is not swapped away."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_import_build_a_list_and_manage_members(logged_in_page, live_server, tmp_path, app):
    page = logged_in_page
    app.config["IMPORT_DIR"] = str(tmp_path / "imports")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    source = tmp_path / "people.csv"
    source.write_text(CSV, encoding="utf-8")

    page.goto(f"{live_server.url}/contacts/import")
    page.set_input_files("input[type=file]", str(source))
    page.click("#import-upload button[type=submit]")
    page.wait_for_selector("[data-testid=start-import]")
    page.check("input[name=dedupe][value=update]")
    page.click("[data-testid=start-import]")
    page.wait_for_selector(".job-progress[data-status=succeeded]")
    assert "errors: 1" in page.inner_text(".job-progress")
    assert page.locator("[data-testid=error-file]").count() == 1
    ids = {c.email: c.id for c in db.session.scalars(select(Contact))}
    assert set(ids) == {"ada@example.com", "grace@example.com", "bob@example.com"}

    page.goto(f"{live_server.url}/marketing-lists/new")
    page.fill("input[name=name]", "Acme people")
    page.select_option("select[name=type]", "dynamic")
    page.click("button[title='Add a field condition']")
    page.wait_for_selector("select[name=ff-0]")
    page.select_option("select[name=ff-0]", "company")
    _settled(page)
    page.wait_for_selector("select[name=fo-0]")
    page.select_option("select[name=fo-0]", "eq")
    _settled(page)
    page.wait_for_selector("input[name=fv-0]")
    page.fill("input[name=fv-0]", "acme")
    _settled(page)
    page.click("[data-testid=save-list]")
    page.wait_for_selector("#items-grid")
    grid = page.inner_text("#items-grid")
    assert "ada@example.com" in grid and "grace@example.com" in grid
    assert "bob@example.com" not in grid

    ada, grace = ids["ada@example.com"], ids["grace@example.com"]
    page.click(f"[data-testid=unsubscribe-{ada}]")
    page.wait_for_selector(f"[data-testid=subscribe-{ada}]")
    page.click(f"[data-testid=remove-{grace}]")
    page.wait_for_selector(f"#removed-grid [data-testid=unremove-{grace}]")
    assert "grace@example.com" not in page.inner_text("#items-grid")
    page.click(f"[data-testid=unremove-{grace}]")
    page.wait_for_selector(f"#items-grid [data-testid=remove-{grace}]")
    assert page.locator(f"#removed-grid [data-testid=unremove-{grace}]").count() == 0
    assert errors == []
