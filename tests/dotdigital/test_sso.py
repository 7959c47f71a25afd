"""Email Studio single sign-on: the whole authorization-code flow against the emulator."""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select
from sqlalchemy import text

from emulators.dotdigital_oauth import DEFAULT_APP_PASSWORD
from emulators.dotdigital_oauth import DEFAULT_APP_USER
from extensions import db
from models.dotdigital import DotdigitalOAuthToken
from models.users import Role
from tests import factories
from tests import factories_dotdigital as fdd

CLIENT_ID = "QVNY867m2DQozogTJfUmqA=="
SECRET = "client-secret-1"
CALLBACK = "http://localhost/dotdigital/oauth/callback"
LEGACY = "http://localhost/dotmailer/oauth/callback"


@pytest.fixture
def sso_server(dotdigital_server, app):
    app.config["DOTDIGITAL_OAUTH_RETRY_DELAY"] = 0.01
    fdd.control(dotdigital_server, "dotdigital/oauth", {"clients": [
        {"client_id": CLIENT_ID, "client_secret": SECRET, "redirect_uris": [CALLBACK, LEGACY]}]})
    return dotdigital_server


@pytest.fixture
def dd(sso_server):
    return _integration(sso_server, oauth_client_id=CLIENT_ID, oauth_client_secret=SECRET)


def _integration(base: str, **values):
    row = fdd.integration(base, **values)
    row.settings = {"custom_domain": base + "/"}
    db.session.commit()
    return row


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _start(client, dd) -> str:
    response = client.get(f"/dotdigital/email-studio/{dd.id}/connect")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def _consent(authorise_url: str, decision: str = "allow") -> str:
    """What the user does on Dotdigital's page; returns where it sends the browser back."""
    params = _query(authorise_url)
    response = requests.post(authorise_url.split("?")[0], data=params | {
        "username": DEFAULT_APP_USER, "password": DEFAULT_APP_PASSWORD, "decision": decision},
        allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def _back(client, location: str):
    parts = urlsplit(location)
    return client.get(f"{parts.path}?{parts.query}")


def _tokens() -> list[DotdigitalOAuthToken]:
    db.session.expire_all()
    return list(db.session.scalars(select(DotdigitalOAuthToken)))


def test_connect_redirects_to_the_authorise_page_with_a_random_state(client, auth, dd,
                                                                     sso_server):
    auth.login_as(Role.ADMIN)
    first, second = _start(client, dd), _start(client, dd)
    assert first.startswith(f"{sso_server}/OAuth2/authorise.aspx?")
    query = _query(first)
    assert query["response_type"] == "code" and query["scope"] == "Account"
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == CALLBACK
    assert len(query["state"]) >= 32 and query["state"] != str(dd.id)
    assert query["state"] != _query(second)["state"]


def test_full_flow_stores_an_encrypted_refresh_token_and_embeds_the_app(client, auth, dd,
                                                                         sso_server):
    user = auth.login_as(Role.ADMIN)
    response = _back(client, _consent(_start(client, dd)))
    assert response.status_code == 302 and "email-studio" in response.headers["Location"]
    [token] = _tokens()
    assert (token.user_id, token.integration_id) == (user.id, dd.id)
    remote = fdd.control(sso_server, "dotdigital/oauth")  # POST {} just returns the state
    assert len(remote["refresh_tokens"]) == 1
    raw = db.session.execute(text("SELECT refresh_token FROM dotdigital_oauth_tokens")).scalar()
    assert raw != token.refresh_token and token.refresh_token not in raw  # encrypted at rest

    page = client.get(f"/dotdigital/email-studio?integration={dd.id}")
    html = page.get_data(as_text=True)
    assert "Connected to dotdigital" in html
    assert token.refresh_token not in html  # never echoed
    assert 'data-testid="sso-frame"' in html and 'title="dotdigital"' in html
    assert f"frame-src {sso_server}" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    src = html.split('<iframe src="')[1].split('"')[0].replace("&amp;", "&")
    assert src.startswith(f"{sso_server}/?oauthtoken=")
    app_page = requests.get(src, timeout=5)
    assert "dotdigital-app" in app_page.text
    # Each visit mints a new access token.
    again = client.get(f"/dotdigital/email-studio?integration={dd.id}").get_data(as_text=True)
    assert again.split('<iframe src="')[1].split('"')[0].replace("&amp;", "&") != src


def test_legacy_dotmailer_callback_path_works(client, auth, dd):
    dd.settings = {**dd.settings, "legacy_callback": True}
    db.session.commit()
    auth.login_as(Role.MARKETER)
    authorise = _start(client, dd)
    assert _query(authorise)["redirect_uri"] == LEGACY
    location = _consent(authorise)
    assert urlsplit(location).path == "/dotmailer/oauth/callback"
    assert _back(client, location).status_code == 302
    assert len(_tokens()) == 1


def test_state_mismatch_is_refused_and_nothing_is_stored(client, auth, dd, sso_server):
    auth.login_as(Role.ADMIN)
    location = _consent(_start(client, dd))
    query = _query(location)
    forged = client.get(f"/dotdigital/oauth/callback?code={query['code']}&state=forged",
                        follow_redirects=True)
    assert "could not be verified" in forged.get_data(as_text=True)
    missing = client.get(f"/dotdigital/oauth/callback?code={query['code']}",
                         follow_redirects=True)
    assert "could not be verified" in missing.get_data(as_text=True)
    assert _tokens() == []
    # The code was never spent: refusing happens before any token request.
    assert fdd.control(sso_server, "dotdigital/oauth")["refresh_tokens"] == []


def test_another_users_state_and_code_are_refused(app, client, auth, dd):
    auth.login_as(Role.ADMIN)
    location = _consent(_start(client, dd))  # issued to the first user's session
    other = app.test_client()
    victim = factories.user(role=Role.ADMIN)
    other.post("/login", data={"email": victim.email, "password": factories.PASSWORD})
    response = _back(other, location)
    assert response.status_code == 302
    assert "could not be verified" in other.get("/dotdigital/email-studio").get_data(
        as_text=True)
    assert _tokens() == []


def test_same_browser_other_user_cannot_complete_the_flow(client, auth, dd):
    auth.login_as(Role.ADMIN)
    authorise = _start(client, dd)
    auth.logout()
    auth.login_as(Role.ADMIN)  # someone else logs in in the same browser
    _back(client, _consent(authorise))
    assert _tokens() == []


def test_replayed_callback_is_refused(client, auth, dd, sso_server):
    auth.login_as(Role.ADMIN)
    location = _consent(_start(client, dd))
    _back(client, location)
    assert len(_tokens()) == 1
    replay = _back(client, location)
    assert replay.status_code == 302
    assert "could not be verified" in client.get("/dotdigital/email-studio").get_data(
        as_text=True)
    assert len(_tokens()) == 1


def test_replayed_code_with_a_fresh_state_is_refused_by_dotdigital(client, auth, dd):
    auth.login_as(Role.ADMIN)
    code = _query(_consent(_start(client, dd)))["code"]
    _back(client, _consent(_start(client, dd)))  # a first connection
    fresh_state = _query(_start(client, dd))["state"]
    client.get(f"/dotdigital/oauth/callback?code={code}&state={fresh_state}")
    # The first code was never used, so it works once; use it twice to see the refusal.
    fresh_state = _query(_start(client, dd))["state"]
    client.get(f"/dotdigital/oauth/callback?code={code}&state={fresh_state}")
    html = client.get("/dotdigital/email-studio").get_data(as_text=True)
    assert "already been used" in html


def test_denied_consent_shows_the_providers_message(client, auth, dd):
    auth.login_as(Role.ADMIN)
    response = _back(client, _consent(_start(client, dd), decision="deny"))
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "access was denied" in html
    assert _tokens() == []


def test_wrong_client_secret_shows_the_providers_error(client, auth, dd):
    auth.login_as(Role.ADMIN)
    authorise = _start(client, dd)
    dd.oauth_client_secret = "not-the-secret"
    db.session.commit()
    _back(client, _consent(authorise))
    html = client.get("/dotdigital/email-studio").get_data(as_text=True)
    assert "Client authentication failed" in html
    assert _tokens() == []


def test_unreachable_provider_says_unable_to_connect(client, auth, dd, sso_server):
    auth.login_as(Role.ADMIN)
    location = _consent(_start(client, dd))
    fdd.control(sso_server, "dotdigital/oauth", {"token_error": {"status": 503}})
    _back(client, location)
    html = client.get("/dotdigital/email-studio").get_data(as_text=True)
    assert "Unable to connect to dotdigital" in html
    calls = requests.get(f"{sso_server}/_emulator/calls", timeout=5).json()
    assert sum(c["path"] == "/OAuth2/Tokens.ashx" for c in calls) == 4  # Oro's attempts
    assert _tokens() == []


def test_revoked_refresh_token_asks_to_connect_again(client, auth, dd, sso_server):
    auth.login_as(Role.ADMIN)
    _back(client, _consent(_start(client, dd)))
    fdd.control(sso_server, "dotdigital/oauth", {"revoke": True})
    html = client.get(f"/dotdigital/email-studio?integration={dd.id}").get_data(as_text=True)
    assert "Connect again" in html and 'data-testid="sso-connect"' in html
    assert "sso-frame" not in html
    assert _tokens() == []


def test_disconnect_deletes_only_this_users_token(client, auth, dd):
    other = factories.user(role=Role.ADMIN)
    from integrations.dotdigital import sso

    sso.save_token(dd.id, other.id, "someone-elses")
    auth.login_as(Role.ADMIN)
    _back(client, _consent(_start(client, dd)))
    assert len(_tokens()) == 2
    response = client.post(f"/dotdigital/email-studio/{dd.id}/disconnect")
    assert response.status_code == 303
    assert [t.user_id for t in _tokens()] == [other.id]
    html = client.get(f"/dotdigital/email-studio?integration={dd.id}").get_data(as_text=True)
    assert 'data-testid="sso-connect"' in html


def test_missing_client_credentials_show_the_reference_message(client, auth, sso_server):
    dd = _integration(sso_server, oauth_client_id="")
    auth.login_as(Role.ADMIN)
    html = client.get(f"/dotdigital/email-studio?integration={dd.id}").get_data(as_text=True)
    assert "Please enter Client ID and Client Key for your" in html
    assert f'/integrations/{dd.id}"' in html
    assert "sso-connect" not in html
    response = client.get(f"/dotdigital/email-studio/{dd.id}/connect", follow_redirects=True)
    assert "Please enter Client ID and Client Key" in response.get_data(as_text=True)


def test_htmx_navigation_becomes_a_full_page_load(client, auth, dd):
    auth.login_as(Role.ADMIN)
    response = client.get(f"/dotdigital/email-studio?integration={dd.id}",
                          headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/dotdigital/email-studio?integration={dd.id}"


def test_viewer_sees_the_page_but_cannot_connect(client, auth, dd):
    auth.login_as(Role.VIEWER)
    html = client.get(f"/dotdigital/email-studio?integration={dd.id}").get_data(as_text=True)
    assert "sso-connect" not in html
    assert client.get(f"/dotdigital/email-studio/{dd.id}/connect").status_code == 403


def test_unknown_integration_is_404(client, auth, dd):
    auth.login_as(Role.ADMIN)
    assert client.get("/dotdigital/email-studio/99999/connect").status_code == 404
