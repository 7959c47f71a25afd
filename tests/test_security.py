"""Every route needs a login, every change a CSRF token and the right role."""

import re

import pytest

from models.users import Role
from web.security import ANY_ROLE_CHANGES
from web.security import PUBLIC_ENDPOINTS

CHANGE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _concrete_url(rule) -> str:
    """A URL for a rule, with 1 for every path argument."""
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "1", rule.rule)


def _rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint not in PUBLIC_ENDPOINTS]


def test_public_endpoints_are_an_explicit_short_list(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(PUBLIC_ENDPOINTS) <= endpoints | {"static"}


def test_every_other_route_requires_login(app, client):
    rules = _rules(app)
    assert len(rules) > 5
    for rule in rules:
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(_concrete_url(rule), method=method)
            assert response.status_code in (302, 401), (rule.rule, method, response.status_code)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"]


def test_htmx_requests_get_a_redirect_header_instead(client):
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_a_viewer_gets_403_on_every_change(app, client, auth):
    auth.login_as(Role.VIEWER)
    checked = 0
    for rule in _rules(app):
        if rule.endpoint in ANY_ROLE_CHANGES:
            continue
        for method in (rule.methods & CHANGE_METHODS):
            response = client.open(_concrete_url(rule), method=method)
            assert response.status_code == 403, (rule.rule, method)
            checked += 1
    assert checked > 3


def test_a_marketer_cannot_reach_admin_pages(client, auth):
    auth.login_as(Role.MARKETER)
    for url in ("/users/", "/configuration/"):
        assert client.get(url).status_code == 403
    assert client.post("/users/", data={"email": "x@example.com"}).status_code == 403


def test_changes_without_csrf_token_are_rejected(client, auth):
    auth.login_as(Role.ADMIN)
    response = client.post("/users/", data={"email": "new@example.com", "password": "x" * 10,
                                            "role": "viewer"}, csrf=False)
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)


def test_security_headers_on_pages(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    script_src = csp.split("script-src")[1].split(";")[0]
    assert "'self'" in script_src and "unsafe-inline" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "HX-Request" in response.headers["Vary"]


def test_session_cookie_is_httponly_and_lax(client, auth):
    response = auth.login(auth.login_as(Role.VIEWER).email)
    response = client.post("/logout")
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("HttpOnly" in c and "SameSite=Lax" in c for c in cookies)


def test_production_cookies_are_secure():
    import config

    settings = config.load("/nonexistent", {
        "LISTBRIDGE_ENV": "production", "SECRET_KEY": "s", "DATABASE_URL": "sqlite://",
        "ENCRYPTION_KEY": "hZk0bxrS8lzm6JmmB8UfXz5Eb6yJ3x3H2p3dDq6f2Xo="})
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_production_refuses_to_start_without_its_secrets():
    import config

    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.load("/nonexistent", {"LISTBRIDGE_ENV": "production"})


def test_a_bad_encryption_key_fails_fast(tmp_path):
    import config

    with pytest.raises(config.ConfigError, match="Fernet"):
        config.load(str(tmp_path), {"ENCRYPTION_KEY": "not-a-key"})
