"""Render a whole page, or one block of it for an htmx request (jinja2-fragments)."""

from __future__ import annotations

import json

from flask import Response
from flask import make_response
from flask import render_template
from flask import request
from flask import session
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_fragment() -> bool:
    """True for an htmx request that swaps part of a page.

    Boosted navigation and history restores need the whole page; htmx takes the body
    and title from it.
    """
    return (is_htmx() and request.headers.get("HX-Boosted") != "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render(template: str, block: str | None = None, status: int = 200, **context) -> Response:
    """Render ``template``; for a fragment request, only ``block``.

    A request aimed at ``#main`` (``redirect_htmx``'s HX-Location, a menu-less swap) wants
    the page content, whatever part the view would otherwise swap.
    """
    if block and wants_fragment() and request.headers.get("HX-Target") == "main":
        block = "content"
    if block and wants_fragment():
        body = render_block(template, block, **context)
        # A fragment leaves the layout alone, so flashed messages ride along out of band.
        if session.get("_flashes"):
            body += render_template("partials/flashes.html", oob=True)
    else:
        body = render_template(template, **context)
    return make_response(body, status)


def redirect_htmx(location: str, status: int = 303) -> Response:
    """Redirect after a change; a fragment request gets the new page's content in #main."""
    if wants_fragment():
        response = make_response("", 204)
        response.headers["HX-Location"] = json.dumps({"path": location, "target": "#main"})
        return response
    response = make_response("", status)
    response.headers["Location"] = location
    return response
