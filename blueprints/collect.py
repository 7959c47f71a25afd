"""The public tracking collector: /tracking.php and /matomo.php (Matomo tracking HTTP API).

Cross-site by design: no login, no CSRF, CORS for any origin. Kept lean because every
page view of every tracked site lands here: a cached site lookup, no ORM objects, and
in the queued mode one Redis round trip per request.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from extensions import csrf
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

bp = Blueprint("collect", __name__)
csrf.exempt(bp)

# A transparent 1×1 GIF, for image-pixel hits (noscript, e-mail opens, old trackers).
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
         b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
METHODS = ["GET", "POST", "OPTIONS"]


@bp.route("/tracking.php", methods=METHODS)
def tracking_php():
    return _collect()


@bp.route("/matomo.php", methods=METHODS)
def matomo_php():
    return _collect()


def _collect() -> Response:
    if request.method == "OPTIONS":
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "86400"
        return _cors(response)
    try:
        response = _handle()
    except HitError as exc:
        response = _plain(413 if "too large" in str(exc) else 400, str(exc))
    except Exception:
        log.exception("tracking: hit not recorded")
        db.session.rollback()
        response = _plain(503, "tracking is temporarily unavailable")
    return _cors(response)


def _handle() -> Response:
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
        return jsonify(status="success", tracked=len(hits), invalid=0)
    if wants_image(sets[0], request.method):
        return Response(PIXEL, status=200, mimetype="image/gif",
                        headers={"Cache-Control": "no-store"})
    return Response(status=204)


def _plain(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin", "")
    if origin and len(origin) <= 512 and origin.isascii() and origin.isprintable():
        # Echoing the origin (not "*") lets beacons sent with credentials through too.
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.vary.add("Origin")
    else:
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response
