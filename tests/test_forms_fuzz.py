"""Every form of the back-office, filled with forged and malformed values: never a 500.

The pages are found by following links from the dashboard, as a user would; each form
on them is sent with every field forged (choices that are not offered, numbers and
dates that do not parse, markup, oversized text), then empty, then holding a NUL
character (refused with 400). The answer may refuse, but with a message: 4xx, or the
page again; never a server error.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin
from urllib.parse import urlsplit

from extensions import db
from models.integrations import Integration
from models.users import Role
from tests import factories_campaigns as fc
from tests import factories_lists as fl
from tests import factories_tracking as ft

MAX_PAGES = 120
SKIP_PREFIXES = ("/logout", "/static/", "/tracking.php", "/matomo.php", "/dotdigital/oauth",
                 "/dotmailer/oauth", "/dotdigital/email-studio")
FORGED = {
    "select": "forged-choice", "number": "1e999", "date": "2026-13-45",
    "datetime-local": "yesterday", "email": "not an email", "url": "javascript:alert(1)",
    "checkbox": "maybe", "radio": "forged-choice", "file": "",
}
LONG_TEXT = "\u202e<script>alert(1)</script>" + "x" * 5000


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {"action": a.get("action") or a.get("hx-post") or "",
                          "method": (a.get("method") or ("post" if a.get("hx-post") else
                                                         "get")).lower(),
                          "fields": []}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "select", "textarea") and a.get("name"):
            kind = a.get("type", "text") if tag == "input" else tag
            self._form["fields"].append((a["name"], kind, a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def _seed() -> None:
    # Integrations whose API nothing answers: their pages and forms must not need it.
    for kind in ("dotdigital", "mailchimp"):
        db.session.add(Integration(type=kind, name=f"Unreachable {kind}",
                                   api_base_url="http://127.0.0.1:9", api_username="u",
                                   api_secret="s", settings={}))
    db.session.commit()
    fc.campaign()
    fc.email_campaign()
    fc.marketing_list()
    fl.contact()
    fl.lead()
    ft.website()


def _crawl(client, pages: set | None = None) -> list[tuple[str, dict]]:
    seen, queue, forms = set() if pages is None else pages, ["/"], []
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        body = response.get_data(as_text=True)  # runs a streamed export to its end, too
        response.close()
        assert response.status_code < 500, f"GET {url} answered {response.status_code}"
        if response.mimetype != "text/html":
            continue
        page = _Page()
        page.feed(body)
        for href in page.links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            # A grid's sort and filter links are the same page again: paths only.
            if not parts.netloc and not parts.path.startswith(SKIP_PREFIXES):
                queue.append(parts.path)
        forms += [(url, form) for form in page.forms if form["method"] == "post"]
    return forms


def _visible(fields) -> bool:
    return any(kind not in ("hidden", "submit", "button") and name != "csrf_token"
               for name, kind, _ in fields)


def _values(fields, mode: str) -> dict:
    data = {}
    for name, kind, value in fields:
        if name == "csrf_token" or kind in ("hidden", "submit", "button"):
            data[name] = value
        elif mode == "empty":
            data[name] = ""
        elif mode == "nul":
            data[name] = "a\x00b"
        else:  # forged
            data[name] = FORGED.get(kind, LONG_TEXT)
    return data


def _last(action: str) -> bool:
    return urlsplit(action).path.startswith(("/configuration/", "/users/"))


def test_no_form_answers_a_server_error_to_forged_or_empty_values(client, auth):
    auth.login_as(Role.ADMIN)
    _seed()
    forms = _crawl(client)
    failures, sent, refused = [], set(), 0
    # Settings and users last: empty feature switches turn whole areas off (404), and
    # the admin's own account must not change under the other forms.
    forms.sort(key=lambda item: _last(urljoin(item[0], item[1]["action"] or "")))
    for page_url, form in forms:
        action = urljoin(page_url, form["action"]) if form["action"] else page_url
        path = urlsplit(action).path
        # Deleting would only take the other forms' records away, and a sync only retries
        # the unreachable API for seconds; neither has a field to forge.
        if path.startswith(SKIP_PREFIXES) or path.endswith(("/delete", "/sync",
                                                            "/synchronize")) or action in sent:
            continue
        sent.add(action)
        for mode in ("forged", "empty", "nul", "forged-htmx"):
            # htmx posts get the form's block back rather than the page: both must render.
            headers = {"HX-Request": "true"} if mode.endswith("htmx") else {}
            response = client.post(action, data=_values(form["fields"], mode),
                                   headers=headers)
            refused += response.status_code == 422
            if response.status_code >= 500:
                failures.append(f"POST {action} ({mode}) → {response.status_code}")
            elif mode == "nul" and _visible(form["fields"]) and response.status_code != 400:
                failures.append(f"POST {action} (nul) → {response.status_code}, not 400")
    assert len(sent) >= 40, sorted(sent)  # the crawl reached the forms
    assert failures == []
    # Still logged in throughout, and the forms really judged what they got.
    assert client.get("/").status_code == 200
    assert refused >= 20


def test_a_nul_character_in_a_grid_filter_is_refused_with_a_message(client, auth):
    auth.login_as(Role.MARKETER)
    response = client.get("/contacts/?f_email=a%00b")
    assert response.status_code == 400
    assert "Text cannot contain NUL characters." in response.get_data(as_text=True)


FORGED_ARGS = {"sort": "no_such_column", "dir": "sideways", "size": "-5", "page": "x",
               "after": "not-a-cursor!", "f_created_at_from": "2026-02-30",
               "f_logged_at_to": "soon", "f_value_from": "1e999", "f_budget_to": "NaN",
               "f_name": "%_\\", "f_type": "forged", "f_subscribed": "perhaps"}


def test_no_page_answers_a_server_error_to_forged_grid_arguments(client, auth):
    auth.login_as(Role.ADMIN)
    _seed()
    pages: set[str] = set()
    _crawl(client, pages)
    assert len(pages) >= 30
    failures = []
    for path in sorted(pages):
        for name, value in FORGED_ARGS.items():
            response = client.get(path, query_string={name: value},
                                  headers={"HX-Request": "true"})
            response.get_data()
            response.close()
            if response.status_code >= 500:
                failures.append(f"GET {path}?{name}={value} → {response.status_code}")
    assert failures == []
