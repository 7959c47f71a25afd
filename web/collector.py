"""The public tracking collector: /tracking.php and /matomo.php (Matomo tracking HTTP API).

Every page view of every tracked site lands here, so these two paths are served by a
small WSGI layer in front of Flask's dispatch rather than by a blueprint: no request
context, session, login check, URL matching or after-request hooks, which together cost
more than the hit itself (docs/benchmarks.md). What it needs of the app (settings, the
site cache, the database when hits are written at once) runs inside an app context.

Cross-site by design: no login, no CSRF, CORS for any origin. It never answers 500: a bad
hit gets 400/413 with a message, a failure to record gets 503.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask import json
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from extensions import db
from services.tracking import config
from services.tracking import ingest
from services.tracking import sites
from services.tracking.hits import MAX_BODY
from services.tracking.hits import HitError
from services.tracking.hits import check_fields
from services.tracking.hits import parse_body
from services.tracking.hits import parse_query
from services.tracking.hits import to_hit
from services.tracking.hits import wants_image

log = logging.getLogger(__name__)

PATHS = frozenset({"/tracking.php", "/matomo.php"})
# A transparent 1×1 GIF, for image-pixel hits (noscript, e-mail opens, old trackers).
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
         b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
_BASE_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")]
_PREFLIGHT = [("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
              ("Access-Control-Allow-Headers", "Content-Type"),
              ("Access-Control-Max-Age", "86400")]


class Reply:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: list | None = None):
        self.status, self.body, self.headers = status, body, headers or []


def mount(app: Flask, wsgi_app):
    """``wsgi_app`` with the collector paths answered before Flask sees them."""

    def collector_or_app(environ, start_response):
        if environ.get("PATH_INFO") not in PATHS:
            return wsgi_app(environ, start_response)
        request = Request(environ)
        with app.app_context():
            reply = collect(request)
        headers = _BASE_HEADERS + reply.headers + _cors(request)
        headers.append(("Content-Length", str(len(reply.body))))
        start_response(f"{reply.status} {HTTP_STATUS_CODES[reply.status]}", headers)
        return [reply.body] if reply.body else []

    return collector_or_app


def collect(request: Request) -> Reply:
    if request.method == "OPTIONS":
        return Reply(204, headers=list(_PREFLIGHT))
    if request.method not in ("GET", "POST"):
        return Reply(405, b"method not allowed\n",
                     [("Allow", "GET, POST, OPTIONS"), _TEXT])
    try:
        return _handle(request)
    except HitError as exc:
        return _plain(413 if "too large" in str(exc) else 400, str(exc))
    except Exception:
        log.exception("tracking: hit not recorded")
        db.session.rollback()
        return _plain(503, "tracking is temporarily unavailable")


def _handle(request: Request) -> Reply:
    settings = config.current()
    if not settings.enabled:
        return _plain(404, "tracking is disabled")
    if (request.content_length or 0) > MAX_BODY:
        raise HitError("request body too large")
    query = parse_query(request.query_string.decode("utf-8", "replace"))
    bulk = False
    if request.method == "POST":
        body = request.stream.read(MAX_BODY + 1)
        sets = parse_body(body, request.content_type or "")
        bulk = bool(body) and body.lstrip()[:1] == b"{"
        if not bulk:
            sets = [{**query, **sets[0]}] if sets else [query]
    else:
        sets = [query]
    if not sets or not any(sets[0].values()):
        raise HitError("no tracking parameters (idsite, rec, url)")
    ip = request.remote_addr or ""
    agent = request.headers.get("User-Agent", "")
    language = request.headers.get("Accept-Language", "")
    referer = request.headers.get("Referer", "")
    hits = []
    for params in sets:
        check_fields(params)
        identifier = params.get("idsite", "")
        site_id = sites.site_id(identifier) if identifier else None
        if site_id is None:
            raise HitError("unknown idsite" if identifier else "idsite is required")
        hits.append(to_hit(params, site_id, ip=ip, user_agent=agent, language=language,
                           referer=referer, keep_query=settings.forward))
    # Validated as a whole first: one bad hit in a bulk request stores nothing.
    ingest.accept(hits)
    if bulk:
        body = json.dumps({"status": "success", "tracked": len(hits), "invalid": 0})
        return Reply(200, body.encode(), [("Content-Type", "application/json")])
    if wants_image(sets[0], request.method):
        return Reply(200, PIXEL, [("Content-Type", "image/gif")])
    return Reply(204)


_TEXT = ("Content-Type", "text/plain; charset=utf-8")


def _plain(status: int, message: str) -> Reply:
    return Reply(status, (message + "\n").encode(), [_TEXT])


def _cors(request: Request) -> list[tuple[str, str]]:
    origin = request.headers.get("Origin", "")
    if origin and len(origin) <= 512 and origin.isascii() and origin.isprintable():
        # Echoing the origin (not "*") lets beacons sent with credentials through too.
        return [("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]
    return [("Access-Control-Allow-Origin", "*")]
