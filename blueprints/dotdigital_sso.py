"""Marketing > dotdigital > Email Studio: single sign-on into the Dotdigital app.

Routes live on the ``dotdigital`` blueprint. The legacy callback path
``/dotmailer/oauth/callback`` (Oro's code and older docs) sits outside the blueprint's
prefix, so it is added to the app when the blueprint is registered.
"""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import make_response
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user

from blueprints.dotdigital import _integration
from blueprints.dotdigital import _integrations
from blueprints.dotdigital import bp
from extensions import db
from integrations.dotdigital import sso
from models.integrations import Integration
from web.htmx import redirect_htmx
from web.htmx import render
from web.security import CONTENT_SECURITY_POLICY
from web.security import permission_required

CHOSEN = "dotdigital_sso_integration"
LEGACY_CALLBACK = "/dotmailer/oauth/callback"


def _chosen() -> Integration | None:
    raw = request.args.get("integration") or session.get(CHOSEN)
    integration = _integration(raw)
    if integration is None:
        choices = _integrations()
        integration = choices[0] if choices else None
    if integration is not None:
        session[CHOSEN] = integration.id
    return integration


def callback_url(integration: Integration) -> str:
    """The redirect URI to register with Dotdigital for this integration."""
    if (integration.settings or {}).get("legacy_callback"):
        return url_for("dotdigital.oauth_callback_legacy", _external=True)
    return url_for("dotdigital.oauth_callback", _external=True)


@bp.get("/email-studio")
def email_studio():
    if request.headers.get("HX-Request") == "true":
        # The page frames another site: it needs its own Content-Security-Policy, which
        # only a full page load applies, so htmx navigation becomes a real one.
        response = make_response("", 204)
        response.headers["HX-Redirect"] = request.full_path.rstrip("?")
        return response
    integration = _chosen()
    app_url = error = None
    connected = False
    if integration is not None and not sso.missing_credentials(integration):
        connected = sso.token_of(integration.id, current_user.id) is not None
        if connected:
            try:
                app_url = sso.app_url(integration, current_user.id)
            except sso.SsoError as exc:
                error = str(exc)
                connected = sso.token_of(integration.id, current_user.id) is not None
    response = make_response(render(
        "dotdigital/email_studio.html", "content", integrations=_integrations(),
        integration=integration, connected=connected, app_url=app_url, error=error,
        missing=integration is not None and sso.missing_credentials(integration),
        callback=callback_url(integration) if integration else None))
    response.headers["Cache-Control"] = "no-store"  # the page carries a live access token
    if integration is not None:
        response.headers["Content-Security-Policy"] = (
            f"{CONTENT_SECURITY_POLICY}; frame-src {sso.domain(integration)}")
    return response


@bp.get("/email-studio/<int:integration_id>/connect")
@permission_required("sync")
def email_studio_connect(integration_id: int):
    integration = _integration(integration_id) or abort(404)
    try:
        url = sso.authorize_url(integration, current_user.id, callback_url(integration))
    except sso.SsoError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dotdigital.email_studio", integration=integration.id))
    return redirect(url)


def _callback():
    try:
        integration = sso.complete(request.args, current_user.id)
    except sso.SsoError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dotdigital.email_studio"))
    flash(f"Connected to dotdigital through {integration.name}.", "success")
    return redirect(url_for("dotdigital.email_studio", integration=integration.id))


@bp.get("/oauth/callback")
def oauth_callback():
    return _callback()


def oauth_callback_legacy():
    return _callback()


bp.record_once(lambda state: state.app.add_url_rule(
    LEGACY_CALLBACK, "dotdigital.oauth_callback_legacy", oauth_callback_legacy))


@bp.post("/email-studio/<int:integration_id>/disconnect")
@permission_required("sync")
def email_studio_disconnect(integration_id: int):
    integration = _integration(integration_id) or abort(404)
    if sso.disconnect(integration.id, current_user.id):
        flash("Disconnected from dotdigital.", "success")
    db.session.commit()
    return redirect_htmx(url_for("dotdigital.email_studio", integration=integration.id))
