"""The generated snippet: snapshot, JS-in-HTML escaping, and the options."""

import json
import re
from pathlib import Path

import pytest

from services.tracking.snippet import SnippetOptions
from services.tracking.snippet import generate
from services.tracking.snippet import js

SNAPSHOTS = Path(__file__).parent / "snapshots"
ALL_OPTIONS = SnippetOptions(campaign="spring-sale", respect_dnt=True, cookieless=True,
                             require_consent=True, noscript=True)


@pytest.mark.parametrize(("name", "options"), [
    ("default", SnippetOptions()),
    ("all_options", ALL_OPTIONS),
    ("csp_safe", SnippetOptions(csp_safe=True, campaign="spring-sale", noscript=True)),
])
def test_snapshot(name, options):
    code = generate("shop-1", "https://crm.example.com", options)
    assert code == (SNAPSHOTS / f"{name}.html").read_text()


def test_reference_structure_in_order():
    code = generate("shop-1", "https://crm.example.com/")
    order = ["var _paq", "'setUserId'", "setConversionAttributionFirstReferrer', false",
             "['trackPageView']", "// _paq.push(['trackEvent', 'OroCRM', 'Tracking'",
             "var u=\"https://crm.example.com/\"", "'setTrackerUrl', u+\"tracking.php\"",
             "'setSiteId', \"shop-1\"", "g.async=true", "static/js/tracker.js"]
    positions = [code.index(part) for part in order]
    assert positions == sorted(positions)


@pytest.mark.parametrize("identifier", [
    "</script><script>alert(1)</script>",
    "<!--<script>",
    "'];alert(1);//",
    "\"];alert(1);//",
    "a\u2028b\u2029c",
    "&lt;/script&gt;",
])
def test_identifier_cannot_break_out(identifier):
    code = generate(identifier, "https://crm.example.com", ALL_OPTIONS)
    body = code.split("<script", 1)[1]
    # Exactly one script element, closed once at its end.
    assert code.count("</script>") == 1 and "<!--" not in body.split("</script>")[0]
    literal = re.search(r"'setSiteId', (.*)\]\);", code).group(1)
    assert json.loads(literal) == identifier  # the value survives intact
    assert "\u2028" not in code and "\u2029" not in code


def test_csp_variant_escapes_attributes_and_has_no_inline_code():
    code = generate('x" onload="alert(1)', "https://crm.example.com",
                    SnippetOptions(csp_safe=True, noscript=True))
    assert 'data-site-id="x&quot; onload=&quot;alert(1)"' in code
    assert re.search(r"<script async src=[^>]+></script>", code)
    assert "_paq.push" not in code.split("-->")[1]


def test_js_literal_escapes_html_significant_characters():
    assert js("<>&'") == '"\\u003c\\u003e\\u0026\\u0027"'


def test_campaign_binding_goes_right_after_set_user_id():
    code = generate("s", "https://crm.example.com", SnippetOptions(campaign="c-1"))
    lines = [line.strip() for line in code.splitlines()]
    at = lines.index("_paq.push(['setCampaignName', \"c-1\"]);")
    assert lines[at - 1].startswith("_paq.push(['setUserId'")


def test_consent_option_shows_the_call_that_gives_it():
    code = generate("s", "https://crm.example.com", SnippetOptions(require_consent=True))
    assert "_paq.push(['requireConsent']);" in code and "setConsentGiven" in code


def test_noscript_pixel_points_at_the_collector():
    code = generate("a b", "https://crm.example.com", SnippetOptions(noscript=True))
    assert 'src="https://crm.example.com/tracking.php?idsite=a%20b&amp;rec=1&amp;send_image=1"' \
        in code
