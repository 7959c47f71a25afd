"""Public endpoints reached from sent mail and from the mail relay (no login).

The open pixel, tracked clicks and one-click unsubscribe are authenticated by the
signature in their link; the bounce/complaint webhook by an HMAC of its body. The
unsubscribe and webhook POSTs come from mail clients and relays, which have no CSRF
token, so they are exempt; their signatures are what protects them.
"""

from __future__ import annotations

import base64

from flask import Blueprint
from flask import Response
from flask import abort
from flask import jsonify
from flask import redirect
from flask import request

from extensions import csrf
from services.email_campaigns import links
from services.email_campaigns import statistics
from web.htmx import render

bp = Blueprint("email_tracking", __name__, url_prefix="/e")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
MAX_WEBHOOK_BYTES = 1_000_000


@bp.get("/o/<token>.gif")
def open_pixel(token: str):
    try:
        statistics.record_open(token)
    except links.BadLink:
        abort(400)
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


@bp.get("/c/<token>")
def click(token: str):
    try:
        target = statistics.record_click(token)
    except links.BadLink:
        abort(400)
    response = redirect(target, code=302)
    response.headers.update(NO_STORE)
    return response


@bp.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    """GET shows a confirmation button (link scanners prefetch GETs); POST unsubscribes.

    Mail clients implementing RFC 8058 POST ``List-Unsubscribe=One-Click`` here directly.
    """
    try:
        recipient = statistics.unsubscribe_target(token)
    except links.BadLink:
        abort(400)
    if recipient is None:
        return render("email_campaigns/unsubscribe.html", status=410, state="gone")
    if request.method == "POST":
        statistics.unsubscribe(token)
        return render("email_campaigns/unsubscribe.html", state="done", email=recipient.email)
    return render("email_campaigns/unsubscribe.html", state="confirm", email=recipient.email,
                  token=token)


@bp.post("/events")
@csrf.exempt
def events():
    """Bounces and complaints from the mail relay, signed: X-Listbridge-Signature: sha256=…"""
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        return jsonify(error="body too large"), 413
    body = request.get_data(cache=True)
    if len(body) > MAX_WEBHOOK_BYTES:
        return jsonify(error="body too large"), 413
    if not statistics.signature_valid(body, request.headers.get("X-Listbridge-Signature")):
        return jsonify(error="bad or missing signature"), 401
    payload = request.get_json(silent=True)
    if payload is None:
        return jsonify(error="the body must be JSON"), 400
    try:
        result = statistics.record_webhook(payload)
    except statistics.BadEvent as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(result), 200
