"""Login on every route, role permissions, CSRF for htmx, and security headers."""

from __future__ import annotations

from functools import wraps

from flask import Flask
from flask import abort
from flask import current_app
from flask import redirect
from flask import request
from flask import url_for
from flask_login import current_user

from extensions import db
from extensions import login_manager
from models.users import User

# The only endpoints reachable without logging in. Everything else, including every
# route added later, requires a session: tests/test_security.py walks the url_map.
PUBLIC_ENDPOINTS = frozenset({
    "auth.login",
    "static",
    "health.healthz",
    # Email campaigns: links in sent mail (signed) and the relay's bounce webhook (HMAC).
    "email_tracking.open_pixel",
    "email_tracking.click",
    "email_tracking.unsubscribe",
    "email_tracking.events",
})

# Changes any logged-in user may make whatever their role.
ANY_ROLE_CHANGES = frozenset({"auth.logout"})

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    # pygal charts and htmx's swap transitions set style attributes.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'self'",
    "object-src 'none'",
])


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or str(user.session_version) != version:
        return None
    return user


def permission_required(permission: str):
    """403 unless the current user's role grants ``permission``."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


def _require_login():
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    # Belt and braces under the per-view checks: a read-only role never changes anything.
    if request.method not in SAFE_METHODS and endpoint not in ANY_ROLE_CHANGES \
            and not current_user.can("edit"):
        abort(403)
    return None


def _refuse_nul_characters():
    """400 for a NUL character in any query or form value.

    No browser sends one from a form; PostgreSQL cannot store one in text and would fail
    the request after validation passed (SQLite would store it, silently).
    """
    for values in (request.args, request.form):
        if any("\x00" in key or any("\x00" in value for value in items)
               for key, items in values.lists()):
            abort(400, description="Text cannot contain NUL characters.")
    return None


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # One URL serves a page or a fragment depending on HX-Request.
    response.vary.add("HX-Request")
    return response


@login_manager.unauthorized_handler
def _unauthorized():
    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if request.headers.get("HX-Request") == "true":
        response = current_app.make_response(("", 401))
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"
    app.before_request(_refuse_nul_characters)
    app.before_request(_require_login)
    app.after_request(_security_headers)
