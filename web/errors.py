"""Error pages inside the layout (a fragment for htmx); never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError

from extensions import db
from web.htmx import render
from web.htmx import wants_fragment

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    401: "Please log in.",
    403: "You do not have permission to do that.",
    404: "This page does not exist, or the feature is switched off.",
    405: "That action is not allowed here.",
    413: "The upload is too large.",
    422: "Some of the values are not valid.",
    429: "Too many requests. Wait a moment and try again.",
    500: "Something went wrong on our side. The error was logged.",
}


def _render_error(code: int, message: str | None = None):
    response = render("errors/error.html", "content", status=code, code=code,
                      message=message or MESSAGES.get(code, "Error."))
    if wants_fragment():
        # Whatever the request aimed at, the error replaces the page content.
        response.headers["HX-Retarget"] = "#main"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _render_error(400, "The form expired or was sent from elsewhere. "
                                  "Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        return _render_error(exc.code, exc.description if exc.code in (400, 422) and
                             exc.description != type(exc).description else None)

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error")
        db.session.rollback()
        return _render_error(InternalServerError.code)
