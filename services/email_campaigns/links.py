"""Signed links in sent mail: the open pixel, tracked clicks and one-click unsubscribe.

Every link carries an itsdangerous signature over the recipient row id (and, for a
click, the target URL), made with the app's SECRET_KEY and a salt per purpose. A
tampered link fails verification and records nothing; a click can only redirect to a
URL this application put in a message, so the endpoint is no open redirect.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

OPEN_PATH = "/e/o/{token}.gif"
CLICK_PATH = "/e/c/{token}"
UNSUBSCRIBE_PATH = "/e/u/{token}"

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


class BadLink(ValueError):
    """The link was not made by this application, or was altered."""


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"listbridge.email.{purpose}")


def sign(purpose: str, payload) -> str:
    return _serializer(purpose).dumps(payload)


def verify(purpose: str, token: str):
    try:
        return _serializer(purpose).loads(token)
    except BadSignature as exc:
        raise BadLink("invalid link") from exc


def recipient_id(purpose: str, token: str) -> int:
    value = verify(purpose, token)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadLink("invalid link")
    return value


def click_target(token: str) -> tuple[int, str]:
    value = verify("click", token)
    if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], int)
            or not isinstance(value[1], str) or not is_web_url(value[1])):
        raise BadLink("invalid link")
    return value[0], value[1]


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class LinkMaker:
    """Builds one message's links; made once per campaign, used per recipient."""

    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")
        self._open = _serializer("open")
        self._click = _serializer("click")
        self._unsubscribe = _serializer("unsubscribe")

    def open_url(self, rid: int) -> str:
        return self.base + OPEN_PATH.format(token=self._open.dumps(rid))

    def unsubscribe_url(self, rid: int) -> str:
        return self.base + UNSUBSCRIBE_PATH.format(token=self._unsubscribe.dumps(rid))

    def click_url(self, rid: int, target: str) -> str:
        return self.base + CLICK_PATH.format(token=self._click.dumps([rid, target]))

    def track_html(self, body: str, rid: int) -> str:
        """Route the body's web links through click tracking and add the open pixel."""

        def replace(match: re.Match) -> str:
            target = html.unescape(match.group(3)).strip()
            if not is_web_url(target) or target.startswith(self.base + "/e/"):
                return match.group(0)
            tracked = html.escape(self.click_url(rid, target), quote=True)
            return f"{match.group(1)}{match.group(2)}{tracked}{match.group(2)}"

        body = _HREF.sub(replace, body)
        pixel = (f'<img src="{html.escape(self.open_url(rid))}" width="1" height="1" alt="" '
                 f'style="display:block;border:0">')
        closing = body.lower().rfind("</body>")
        if closing == -1:
            return body + pixel
        return body[:closing] + pixel + body[closing:]
