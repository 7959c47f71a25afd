"""Dotdigital OAuth 2.0 single sign-on, emulated (api-contracts.md part B).

The web-app host of a region serves three things the back-office uses:

``GET /OAuth2/authorise.aspx?redirect_uri&response_type=code&scope=Account&state&client_id``
    A login and consent page. An unknown client or a redirect URI the client did not
    register is an error page (never a redirect); otherwise "Allow" redirects to
    ``redirect_uri?code=…&state=…`` and "Deny" to ``redirect_uri?error=access_denied&state=…``.
    The client id is accepted raw or URL-encoded (Oro appends it un-encoded).
``POST /OAuth2/Tokens.ashx`` (form-encoded, client credentials in the body)
    ``grant_type=authorization_code`` (code, redirect_uri) and ``grant_type=refresh_token``.
    JSON ``{access_token, refresh_token, token_type, expires_in}``; errors are a 400 with
    ``{error, error_description}``. A code works once; replaying it also revokes the
    refresh token it produced (RFC 6749 §4.1.2).
``GET /?oauthtoken=…``
    The app itself when the access token is live, else a login page.

Control (no auth): ``POST /_emulator/dotdigital/oauth`` with any of
``{"clients": [{"client_id", "client_secret", "redirect_uris": [...] | null}],
"users": {"email": "password"}, "deny": bool, "access_token_ttl": seconds,
"code_ttl": seconds, "revoke": true, "token_error": {"status": 503} | null}``
(``redirect_uris: null`` accepts any; ``deny`` makes the consent page refuse at once;
``revoke`` revokes every refresh token issued so far; ``token_error`` answers the next token
requests with that status). ``GET /_emulator/dotdigital/oauth`` dumps the state.
``POST /_emulator/reset`` clears it with the rest of the emulator.
"""

from __future__ import annotations

import secrets
import threading
import time
from urllib.parse import unquote
from urllib.parse import urlencode

from flask import Flask
from flask import Response
from flask import jsonify
from flask import redirect
from flask import request
from markupsafe import escape

CONTROL = "/_emulator/dotdigital/oauth"
DEFAULT_CLIENT_ID = "bGlzdGJyaWRnZS1kZW1v=="
DEFAULT_CLIENT_SECRET = "demo-client-secret"
DEFAULT_APP_USER = "owner@example.com"
DEFAULT_APP_PASSWORD = "demo-app-password"


class OAuthState:
    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.clients = {DEFAULT_CLIENT_ID: {"secret": DEFAULT_CLIENT_SECRET,
                                                "redirect_uris": None}}
            self.users = {DEFAULT_APP_USER: DEFAULT_APP_PASSWORD}
            self.deny = False
            self.access_token_ttl = 3600
            self.code_ttl = 600
            self.token_error: dict | None = None
            self.codes: dict[str, dict] = {}
            self.refresh_tokens: dict[str, dict] = {}
            self.access_tokens: dict[str, dict] = {}

    def configure(self, data: dict) -> dict:
        with self.lock:
            for client in data.get("clients") or []:
                uris = client.get("redirect_uris")
                self.clients[str(client["client_id"])] = {
                    "secret": str(client["client_secret"]),
                    "redirect_uris": None if uris is None else [str(u) for u in uris]}
            self.users.update(data.get("users") or {})
            for key in ("deny", "access_token_ttl", "code_ttl"):
                if key in data:
                    setattr(self, key, data[key])
            if "token_error" in data:
                self.token_error = data["token_error"]
            if data.get("revoke"):
                for token in self.refresh_tokens.values():
                    token["revoked"] = True
            return self.dump()

    def dump(self) -> dict:
        with self.lock:
            return {"clients": sorted(self.clients), "users": sorted(self.users),
                    "deny": self.deny, "codes": len(self.codes),
                    "refresh_tokens": [{"user": t["user"], "client_id": t["client_id"],
                                        "revoked": t["revoked"]}
                                       for t in self.refresh_tokens.values()],
                    "access_tokens": len(self.access_tokens)}

    def client(self, raw: str | None) -> tuple[str, dict] | None:
        raw = raw or ""
        # Oro sends the id un-encoded, others encode it once or twice: try each form.
        for candidate in (raw, unquote(raw), unquote(unquote(raw))):
            if candidate in self.clients:
                return candidate, self.clients[candidate]
        return None

    def issue_access(self, user: str, client_id: str) -> dict:
        access = secrets.token_urlsafe(24)
        self.access_tokens[access] = {"user": user, "client_id": client_id,
                                      "expires": time.time() + self.access_token_ttl}
        return {"access_token": access, "token_type": "bearer",
                "expires_in": int(self.access_token_ttl)}


def _state(app: Flask) -> OAuthState:
    return app.extensions["dotdigital_oauth"]


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            "</head><body style='font-family:sans-serif;margin:2rem'>"
            f"<h1>{escape(title)}</h1>{body}</body></html>")
    return Response(html, status=status, mimetype="text/html")


def _token_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _back(redirect_uri: str, **params) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return redirect(redirect_uri + separator + urlencode(
        {k: v for k, v in params.items() if v is not None}), code=302)


def _consent_form(args: dict, message: str = "") -> Response:
    hidden = "".join(f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>"
                     for k, v in args.items())
    error = f"<p role='alert' style='color:#b00'>{escape(message)}</p>" if message else ""
    body = (f"{error}<p>Listbridge asks to open your dotdigital account (scope "
            f"<code>{escape(args.get('scope', ''))}</code>).</p>"
            "<form method='post'>" + hidden +
            "<label>Email <input name='username' type='email' autocomplete='username'></label> "
            "<label>Password <input name='password' type='password' "
            "autocomplete='current-password'></label> "
            "<button name='decision' value='allow' type='submit'>Log in and allow</button> "
            "<button name='decision' value='deny' type='submit'>Deny</button></form>")
    return _page("Log in to dotdigital", body)


def install(app: Flask) -> OAuthState:
    state = OAuthState()
    app.extensions["dotdigital_oauth"] = state

    def authorise_request() -> tuple[dict, Response | None, tuple | None]:
        source = request.form if request.method == "POST" else request.args
        args = {k: source.get(k, "") for k in ("client_id", "redirect_uri", "response_type",
                                                 "scope", "state")}
        found = state.client(args["client_id"])
        if found is None:
            return args, _page("dotdigital: sign-in error",
                               "<p>Unknown client_id. ERROR_OAUTH_TOKEN_INVALID</p>", 400), None
        client_id, client = found
        uris = client["redirect_uris"]
        if not args["redirect_uri"] or (uris is not None and args["redirect_uri"] not in uris):
            return args, _page("dotdigital: sign-in error",
                               "<p>Incorrect callback URL: the redirect_uri is not the one "
                               "registered for this client.</p>", 400), None
        if args["response_type"] != "code":
            return args, _back(args["redirect_uri"], error="unsupported_response_type",
                               state=args["state"] or None), None
        if args["scope"] != "Account":
            return args, _back(args["redirect_uri"], error="invalid_scope",
                               error_description="The only scope is Account.",
                               state=args["state"] or None), None
        return args, None, (client_id, client)

    @app.get("/OAuth2/authorise.aspx")
    def oauth_authorise():
        with state.lock:
            args, refused, _ = authorise_request()
            if refused is not None:
                return refused
            if state.deny:
                return _back(args["redirect_uri"], error="access_denied",
                             error_description="The user denied access.",
                             state=args["state"] or None)
            return _consent_form(args)

    @app.post("/OAuth2/authorise.aspx")
    def oauth_authorise_submit():
        with state.lock:
            args, refused, found = authorise_request()
            if refused is not None:
                return refused
            client_id, _ = found
            if request.form.get("decision") != "allow" or state.deny:
                return _back(args["redirect_uri"], error="access_denied",
                             error_description="The user denied access.",
                             state=args["state"] or None)
            user = (request.form.get("username") or "").strip().lower()
            password = request.form.get("password") or ""
            expected = state.users.get(user)
            if expected is None or not secrets.compare_digest(expected, password):
                return _consent_form(args, "The login details you entered are incorrect.")
            code = secrets.token_urlsafe(24)
            state.codes[code] = {"client_id": client_id, "redirect_uri": args["redirect_uri"],
                                 "user": user, "expires": time.time() + state.code_ttl,
                                 "used": False, "refresh_token": None}
            return _back(args["redirect_uri"], code=code, state=args["state"] or None)

    @app.post("/OAuth2/Tokens.ashx")
    def oauth_tokens():
        with state.lock:
            if state.token_error:
                status = int(state.token_error.get("status", 503))
                return _page("Service Unavailable", "<p>Try again later.</p>", status)
            form = request.form
            grant = form.get("grant_type", "")
            if not grant:
                return _token_error("invalid_request", "grant_type is required.")
            found = state.client(form.get("client_id"))
            if found is None or not secrets.compare_digest(
                    found[1]["secret"], form.get("client_secret") or ""):
                return _token_error("invalid_client", "Client authentication failed.")
            client_id = found[0]
            if grant == "authorization_code":
                return exchange_code(client_id, form)
            if grant == "refresh_token":
                token = state.refresh_tokens.get(form.get("refresh_token") or "")
                if token is None or token["revoked"] or token["client_id"] != client_id:
                    return _token_error("invalid_grant", "The refresh token is invalid or "
                                                         "has been revoked.")
                body = state.issue_access(token["user"], client_id)
                response = jsonify(body)
                response.headers["Cache-Control"] = "no-store"
                return response
            return _token_error("unsupported_grant_type",
                                f"grant_type {grant} is not supported.")

    def exchange_code(client_id: str, form) -> Response:
        code = state.codes.get(form.get("code") or "")
        if code is None or code["client_id"] != client_id:
            return _token_error("invalid_grant", "The authorization code is invalid.")
        if code["used"]:
            # A replayed code: refuse it and revoke what the first use produced.
            if code["refresh_token"] in state.refresh_tokens:
                state.refresh_tokens[code["refresh_token"]]["revoked"] = True
            return _token_error("invalid_grant", "The authorization code has already been "
                                                 "used.")
        if code["expires"] < time.time():
            return _token_error("invalid_grant", "The authorization code has expired.")
        if (form.get("redirect_uri") or "") != code["redirect_uri"]:
            return _token_error("invalid_grant", "Incorrect callback URL: redirect_uri does "
                                                 "not match the authorisation request.")
        code["used"] = True
        refresh = secrets.token_urlsafe(32)
        code["refresh_token"] = refresh
        state.refresh_tokens[refresh] = {"user": code["user"], "client_id": client_id,
                                         "revoked": False}
        body = state.issue_access(code["user"], client_id)
        body["refresh_token"] = refresh
        response = jsonify(body)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def oauth_app():
        token = request.args.get("oauthtoken") or ""
        with state.lock:
            live = state.access_tokens.get(token)
            if live is None or live["expires"] < time.time():
                return _page("Log in to dotdigital",
                             "<p>Your session has expired. Log in to continue.</p>"
                             "<form><label>Email <input name='username'></label></form>")
            user = live["user"]
        return _page("dotdigital", f"<p data-testid='dotdigital-app'>Dashboard of "
                                   f"<strong>{escape(user)}</strong>. Campaigns, contacts and "
                                   "reports live here.</p>")

    @app.post(CONTROL)
    def dotdigital_oauth_control():
        try:
            return jsonify(state.configure(request.get_json(force=True) or {}))
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify(error=f"{type(exc).__name__}: {exc}"), 400

    @app.get(CONTROL)
    def dotdigital_oauth_dump():
        return jsonify(state.dump())

    # ``POST /_emulator/reset`` (emulators.faults) clears the OAuth state too.
    reset_view = app.view_functions["emulator_reset"]

    def emulator_reset():
        state.reset()
        return reset_view()

    app.view_functions["emulator_reset"] = emulator_reset
    return state
