"""End to end: a site on another origin pastes the generated snippet; its page view and a
custom event show up in the website's Events grid and Verify panel."""

import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from tests import factories_tracking as tf

pytestmark = pytest.mark.e2e


class _Site:
    """A tracked site on its own port (another origin than the app)."""

    def __init__(self):
        self.html = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def tracked_site():
    site = _Site()
    yield site
    site.close()


def test_snippet_on_a_page_tracks_views_and_custom_events(logged_in_page, live_server,
                                                          tracked_site, browser):
    page = logged_in_page
    website = tf.website("e2e-shop", name="E2E Shop", url=tracked_site.url)
    page.goto(f"{live_server.url}/tracking/websites/{website.id}?campaign=spring-sale")
    snippet = page.input_value("#tracking-snippet")
    assert "setCampaignName" in snippet and live_server.url in snippet
    page.wait_for_selector("[data-testid=verify-none]")

    tracked_site.html = (
        "<!doctype html><html><head><title>Blue kettle</title></head><body>"
        "<h1>Blue kettle</h1>" + snippet + "</body></html>")
    visitor = browser.new_context().new_page()
    visitor.goto(f"{tracked_site.url}/products/blue-kettle?utm_campaign=ignored")
    visitor.wait_for_function("window._paq && window._paq.__listbridge === true")
    visitor.evaluate("_paq.push(['trackEvent', 'OroCRM', 'Tracking', 'cart item added', 27])")

    # The Verify panel polls by itself: no reload.
    page.wait_for_selector("[data-testid=verify-ok]", timeout=20_000)
    assert "/products/blue-kettle" in page.text_content("[data-testid=verify-last-url]")

    page.goto(f"{live_server.url}/tracking/websites/{website.id}")
    grid = page.text_content("#events-grid")
    assert "cart item added" in grid and "27" in grid
    assert "visit" in grid and "spring-sale" in grid
    visitor.context.close()
