"""In Chromium: write a template, create and send an email campaign over a real SMTP
server, load the received message's pixel and one link, unsubscribe, see the counters."""

from __future__ import annotations

import re

import pytest

from tests import factories_campaigns as fc
from tests.campaigns.conftest import configure
from tests.campaigns.smtp_server import SmtpServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def smtp_server(app):
    with SmtpServer() as server:
        yield server


def test_template_campaign_send_and_statistics(logged_in_page, live_server, smtp_server):
    page = logged_in_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    configure(smtp_server.port, **{"general.public_url": live_server.url})
    fc.marketing_list(emails=["reader@example.com", "other@example.com"],
                      name="Readers")
    landing = f"{live_server.url}/login?from=mail"

    # Write a template; a syntax error is shown on the form first.
    page.goto(f"{live_server.url}/email-campaigns/templates/new")
    page.fill("input[name=name]", "Welcome")
    page.fill("input[name=subject]", "Hello {{ first_name }}")
    page.fill("textarea[name=html_body]", "<p>Hi {{ first_name </p>")
    page.click("#template-form button[type=submit]")
    page.wait_for_selector("text=Template syntax error on line 1")
    page.fill("textarea[name=html_body]",
              f'<p>Hi {{{{ first_name }}}}, <a href="{landing}">read more</a></p>')
    page.fill("textarea[name=text_body]", "Hi {{ first_name }}")
    page.click("#template-form button[type=submit]")
    page.wait_for_selector("[data-testid=preview-subject]")
    assert page.inner_text("[data-testid=preview-subject]") == "Hello Jane"
    page.select_option("select[name=list_id]", label="Readers")
    page.wait_for_selector("[data-testid=preview-subject]:has-text('Hello Member0')")

    # Create the email campaign and send it.
    page.goto(f"{live_server.url}/email-campaigns/new")
    page.fill("input[name=name]", "Spring mailing")
    page.select_option("select[name=marketing_list_id]", label="Readers")
    page.select_option("select[name=template_id]", label="Welcome")
    page.click("#email-campaign-form button[type=submit]")
    page.wait_for_selector("[data-testid=send]")
    assert page.inner_text("[data-testid=sent-status]") == "Not sent"
    page.click("[data-testid=send]")
    page.wait_for_selector("[data-testid=sent-status]:text-is('Sent')")
    assert sorted(smtp_server.handler.recipients) == ["other@example.com", "reader@example.com"]

    # The reader's mail client loads the pixel, follows the link, then unsubscribes.
    message = smtp_server.handler.parsed("reader@example.com")
    html = message.get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+)"', html).group(1)
    link = re.search(r'<a href="([^"]+)">read more', html).group(1)
    assert pixel.startswith(live_server.url) and link.startswith(live_server.url + "/e/c/")
    reader = page.context.browser.new_context()
    mail_client = reader.new_page()
    assert mail_client.goto(pixel).status == 200
    mail_client.goto(link)
    assert mail_client.url == landing
    unsubscribe = message["List-Unsubscribe"].strip("<> ")
    mail_client.goto(unsubscribe)
    mail_client.click("[data-testid=unsubscribe]")
    mail_client.wait_for_selector("text=You are unsubscribed")
    reader.close()

    # The counters moved.
    page.reload()
    for stat in ("open", "click", "unsubscribe"):
        figure = page.inner_text(f"[data-stat={stat}] .figure")
        assert figure == "1", (stat, figure)
    page.fill("input[name=f_open_count_from]", "1")
    page.press("input[name=f_open_count_from]", "Tab")  # a change event filters the grid
    page.wait_for_function(
        "() => !document.querySelector('#recipients-grid').innerText.includes('other@')")
    assert "reader@example.com" in page.inner_text("#recipients-grid")
    assert errors == []
