"""The tracking snippet marketers paste into their sites.

It keeps the structure of Oro's template (the ``_paq`` queue, the setUserId placeholder,
last-campaign attribution, trackPageView, the commented trackEvent line, setTrackerUrl,
setSiteId, the async loader), points at this application's collector and tracker, and adds
the options marketers expect from Matomo's generator. Every value goes through ``js()``
so nothing a user typed can close the ``<script>`` element.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

INSTRUCTIONS = (
    "Make sure this code is on every page of your website before the closing body tag. "
    "To track custom events, please uncomment the trackEvent string and replace [name], "
    "[value], and [user_identifier] parameters with your values. The script will log an "
    "event with the [name] name and optional [value]."
)
TRACKER_PATH = "static/js/tracker.js"
COLLECTOR_PATH = "tracking.php"


@dataclass(frozen=True)
class SnippetOptions:
    campaign: str = ""  # bind every hit of the site to this campaign code
    respect_dnt: bool = False
    cookieless: bool = False
    require_consent: bool = False
    noscript: bool = False
    csp_safe: bool = False  # no inline script: configuration in data- attributes


def js(value) -> str:
    """A JavaScript literal safe inside an HTML ``<script>`` element.

    JSON gives a valid JS string; escaping <, >, & and quotes as \\uXXXX means neither
    ``</script>`` nor ``<!--`` can appear in the output, and U+2028/U+2029 are escaped for
    older engines that treat them as line ends inside strings.
    """
    text = json.dumps(value, ensure_ascii=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("'", "\\u0027"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def base_url(url: str) -> str:
    return url.rstrip("/") + "/"


def generate(identifier: str, app_url: str, options: SnippetOptions | None = None) -> str:
    """The snippet for the site ``identifier``; ``app_url`` is this application's URL."""
    options = options or SnippetOptions()
    root = base_url(app_url)
    if options.csp_safe:
        return _external(identifier, root, options)
    lines = [
        '<script type="text/javascript">',
        "    var _paq = window._paq = window._paq || [];",
    ]
    if options.require_consent:
        lines += [
            "    // Nothing is sent until the visitor agrees; then call:",
            "    //   _paq.push(['setConsentGiven']);  (or 'rememberConsentGiven' to keep it)",
            "    _paq.push(['requireConsent']);",
        ]
    if options.respect_dnt:
        lines.append("    _paq.push(['setDoNotTrack', true]);")
    if options.cookieless:
        lines.append("    _paq.push(['disableCookies']);")
    lines += [
        "    // Replace \"guest\" with your signed-in visitor's identifier (email, username or",
        "    // UUID) as [user_identifier]; visitors stay \"guest\" until they sign in.",
        "    _paq.push(['setUserId', \"guest\" ]);",
    ]
    if options.campaign:
        lines.append(f"    _paq.push(['setCampaignName', {js(options.campaign)}]);")
    lines += [
        "    _paq.push(['setConversionAttributionFirstReferrer', false]);",
        "    _paq.push(['trackPageView']);",
        "    // Uncomment following line to track custom events",
        "    // _paq.push(['trackEvent', 'OroCRM', 'Tracking', [name], [value] ]);",
        "    (function() {",
        f"        var u={js(root)};",
        f"        _paq.push(['setTrackerUrl', u+{js(COLLECTOR_PATH)}]);",
        f"        _paq.push(['setSiteId', {js(identifier)}]);",
        "        var d=document, g=d.createElement('script'), "
        "s=d.getElementsByTagName('script')[0]; g.type='text/javascript';",
        f"        g.defer=true; g.async=true; g.src=u+{js(TRACKER_PATH)}; "
        "s.parentNode.insertBefore(g,s);",
        "    })();",
        "</script>",
    ]
    if options.noscript:
        lines.append(_noscript(identifier, root))
    return "\n".join(lines) + "\n"


def _external(identifier: str, root: str, options: SnippetOptions) -> str:
    """No inline code: the tracker reads its configuration from its own element."""
    attributes = [
        ("src", root + TRACKER_PATH),
        ("data-tracker-url", root + COLLECTOR_PATH),
        ("data-site-id", identifier),
        ("data-user-id", "guest"),
    ]
    if options.campaign:
        attributes.append(("data-campaign", options.campaign))
    for flag, attribute in ((options.respect_dnt, "data-do-not-track"),
                            (options.cookieless, "data-disable-cookies"),
                            (options.require_consent, "data-require-consent")):
        if flag:
            attributes.append((attribute, "true"))
    rendered = " ".join(f'{name}="{escape(value, quote=True)}"' for name, value in attributes)
    lines = [
        "<!-- For sites with a strict Content-Security-Policy: allow this application in",
        "     script-src and connect-src. Replace data-user-id with your signed-in visitor's",
        "     identifier. Custom events: window._paq.push(['trackEvent', 'OroCRM',",
        "     'Tracking', name, value]) from your own scripts."
        + (" Consent: window._paq.push(['setConsentGiven'])." if options.require_consent
           else "") + " -->",
        f"<script async {rendered}></script>",
    ]
    if options.noscript:
        lines.append(_noscript(identifier, root))
    return "\n".join(lines) + "\n"


def _noscript(identifier: str, root: str) -> str:
    src = f"{root}{COLLECTOR_PATH}?idsite={quote(identifier, safe='')}&rec=1&send_image=1"
    return ('<noscript><p><img referrerpolicy="no-referrer-when-downgrade" '
            f'src="{escape(src, quote=True)}" style="border:0;" alt="" /></p></noscript>')
