"""Single sign-on into the Dotdigital app ("Email Studio"), over Authlib's OAuth 2.0 client.

The authorization-code flow of api-contracts.md part B, with what Oro left out:

- ``state`` is random, kept in the user's session with the integration and the user it was
  issued for, and usable once; a callback with an unknown, replayed or foreign state is
  refused before any token request, and nothing is stored.
- Only the refresh token is kept, encrypted, per (integration, user). Every visit mints a
  fresh access token from it; a refused refresh token is forgotten and the user is asked
  to connect again.
- Token requests are retried (4 attempts, like Oro) only when the provider could not be
  reached or failed (5xx); an OAuth error answer is final and shown as it came.
"""

from __future__ import annotations

import secrets
import time

import requests
from authlib.integrations.base_client import OAuthError
from flask import current_app
from flask import session
from sqlalchemy import delete
from sqlalchemy import select

from extensions import db
from extensions import oauth
from models.dotdigital import DotdigitalOAuthToken
from models.integrations import Integration

SCOPE = "Account"
ATTEMPTS = 4
UNREACHABLE = "Unable to connect to dotdigital"
BAD_CALLBACK = "Incorrect callback URL"
MISSING_CREDENTIALS = "Please enter Client ID and Client Key for your integration"
STATE_REFUSED = ("The dotdigital sign-in could not be verified (it was started in another "
                 "session, has expired or was already used). Nothing was saved; connect again.")
RECONNECT = ("dotdigital no longer accepts your connection (it was revoked or expired). "
             "Connect again.")


class SsoError(RuntimeError):
    """A message for the user; nothing was stored."""


class _StateStore(oauth.framework_integration_cls):
    # Ten minutes to log in and consent; older states are dropped from the session.
    expires_in = 600


def domain(integration: Integration) -> str:
    """The web-app host: the Custom OAuth Domain, or the configured default."""
    custom = ((integration.settings or {}).get("custom_domain") or "").strip()
    return (custom or current_app.config["DOTDIGITAL_OAUTH_DOMAIN"]).rstrip("/")


def missing_credentials(integration: Integration) -> bool:
    return not (integration.oauth_client_id or "").strip() or not integration.oauth_client_secret


def _store() -> _StateStore:
    return _StateStore("dotdigital_sso", oauth.cache)


def _app(integration: Integration):
    """An Authlib Flask client for this integration (credentials differ per integration)."""
    base = domain(integration)
    return oauth.oauth2_client_cls(
        _store(), "dotdigital_sso", client_id=integration.oauth_client_id.strip(),
        client_secret=integration.oauth_client_secret,
        authorize_url=f"{base}/OAuth2/authorise.aspx",
        access_token_url=f"{base}/OAuth2/Tokens.ashx",
        client_kwargs={"scope": SCOPE, "token_endpoint_auth_method": "client_secret_post",
                       "default_timeout": current_app.config["HTTP_TIMEOUT"]})


def authorize_url(integration: Integration, user_id: int, redirect_uri: str) -> str:
    """The provider's consent URL; its state is remembered in this user's session."""
    if missing_credentials(integration):
        raise SsoError(MISSING_CREDENTIALS)
    app = _app(integration)
    result = app.create_authorization_url(redirect_uri, state=secrets.token_urlsafe(32))
    app.framework.set_state_data(session, result["state"], {
        "redirect_uri": redirect_uri, "integration_id": integration.id, "user_id": user_id})
    return result["url"]


def _friendly(exc: Exception) -> str:
    if isinstance(exc, OAuthError):
        text = exc.description or exc.error or ""
        if exc.error == "redirect_uri_mismatch" or "callback url" in text.lower() \
                or "redirect_uri" in text.lower():
            return BAD_CALLBACK
        return f"dotdigital: {text}" if text else UNREACHABLE
    return UNREACHABLE


def _with_retries(call):
    delay = current_app.config.get("DOTDIGITAL_OAUTH_RETRY_DELAY", 0.5)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return call()
        except OAuthError:
            raise
        except (requests.RequestException, ValueError):
            # Unreachable, timed out, 5xx or not JSON: worth another try.
            if attempt == ATTEMPTS:
                raise
            time.sleep(delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def complete(args, user_id: int) -> Integration:
    """Handle the provider's redirect back: check the state, swap the code, keep the token."""
    state = args.get("state") or ""
    store = _store()
    data = store.get_state_data(session, state) if state else None
    if data is not None:
        store.clear_state_data(session, state)  # usable once, whatever happens next
    if data is None or data.get("user_id") != user_id:
        raise SsoError(STATE_REFUSED)
    integration = db.session.get(Integration, data.get("integration_id"))
    if integration is None or integration.type != "dotdigital":
        raise SsoError("The integration no longer exists.")
    if args.get("error"):
        description = args.get("error_description") or ""
        if args["error"] == "access_denied":
            raise SsoError(f"dotdigital: access was denied. {description}".strip())
        raise SsoError(f"dotdigital: {description or args['error']}")
    code = args.get("code") or ""
    if not code:
        raise SsoError("dotdigital sent no authorization code.")
    if missing_credentials(integration):
        raise SsoError(MISSING_CREDENTIALS)
    app = _app(integration)
    try:
        token = _with_retries(lambda: app.fetch_access_token(
            code=code, redirect_uri=data["redirect_uri"]))
    except (OAuthError, requests.RequestException, ValueError) as exc:
        raise SsoError(_friendly(exc)) from exc
    refresh = token.get("refresh_token")
    if not refresh:
        raise SsoError("dotdigital did not return a refresh token.")
    save_token(integration.id, user_id, refresh)
    return integration


def save_token(integration_id: int, user_id: int, refresh_token: str) -> None:
    row = token_of(integration_id, user_id)
    if row is None:
        row = DotdigitalOAuthToken(integration_id=integration_id, user_id=user_id)
        db.session.add(row)
    row.refresh_token = refresh_token
    db.session.commit()


def token_of(integration_id: int, user_id: int) -> DotdigitalOAuthToken | None:
    return db.session.scalar(select(DotdigitalOAuthToken).where(
        DotdigitalOAuthToken.integration_id == integration_id,
        DotdigitalOAuthToken.user_id == user_id))


def disconnect(integration_id: int, user_id: int) -> bool:
    result = db.session.execute(delete(DotdigitalOAuthToken).where(
        DotdigitalOAuthToken.integration_id == integration_id,
        DotdigitalOAuthToken.user_id == user_id))
    db.session.commit()
    return bool(result.rowcount)


def app_url(integration: Integration, user_id: int) -> str | None:
    """``{domain}/?oauthtoken=<fresh access token>``; None when the user is not connected."""
    row = token_of(integration.id, user_id)
    if row is None:
        return None
    if missing_credentials(integration):
        raise SsoError(MISSING_CREDENTIALS)
    app = _app(integration)

    def refresh():
        with app._get_oauth_client() as client:
            return client.refresh_token(app.access_token_url, refresh_token=row.refresh_token)

    try:
        token = _with_retries(refresh)
    except OAuthError as exc:
        if exc.error in ("invalid_grant", "invalid_token"):
            disconnect(integration.id, user_id)
            raise SsoError(RECONNECT) from exc
        raise SsoError(_friendly(exc)) from exc
    except (requests.RequestException, ValueError) as exc:
        raise SsoError(UNREACHABLE) from exc
    access = token.get("access_token")
    if not access:
        raise SsoError("dotdigital did not return an access token.")
    if token.get("refresh_token") and token["refresh_token"] != row.refresh_token:
        save_token(integration.id, user_id, token["refresh_token"])  # rotated
    return f"{domain(integration)}/?oauthtoken={access}"
