"""The emulator's OAuth 2.0 endpoints against api-contracts.md part B, over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
import requests

from emulators.dotdigital_oauth import DEFAULT_APP_PASSWORD
from emulators.dotdigital_oauth import DEFAULT_APP_USER

CLIENT_ID = "QVNY867m2DQozogTJfUmqA=="
SECRET = "s3cret-key"
CALLBACK = "https://crm.example.com/dotdigital/oauth/callback"


@pytest.fixture
def oauth_server(dotdigital_server):
    requests.post(f"{dotdigital_server}/_emulator/dotdigital/oauth", json={"clients": [
        {"client_id": CLIENT_ID, "client_secret": SECRET, "redirect_uris": [CALLBACK]}]},
        timeout=5).raise_for_status()
    return dotdigital_server


def _authorise_params(**overrides) -> dict:
    params = {"redirect_uri": CALLBACK, "response_type": "code", "scope": "Account",
              "state": "opaque-123", "client_id": CLIENT_ID}
    params.update(overrides)
    return params


def _consent(base, decision="allow", user=DEFAULT_APP_USER, password=DEFAULT_APP_PASSWORD,
             **overrides):
    data = _authorise_params(**overrides) | {"username": user, "password": password,
                                              "decision": decision}
    return requests.post(f"{base}/OAuth2/authorise.aspx", data=data, allow_redirects=False,
                         timeout=5)


def _query(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def _code(base) -> str:
    response = _consent(base)
    assert response.status_code == 302
    return _query(response)["code"]


def _token(base, **data):
    body = {"client_id": CLIENT_ID, "client_secret": SECRET, "redirect_uri": CALLBACK,
            "grant_type": "authorization_code"} | data
    return requests.post(f"{base}/OAuth2/Tokens.ashx", data=body, timeout=5)


def test_authorise_shows_a_login_and_consent_page(oauth_server):
    response = requests.get(f"{oauth_server}/OAuth2/authorise.aspx",
                            params=_authorise_params(), timeout=5)
    assert response.status_code == 200
    assert "Log in to dotdigital" in response.text
    assert "name='decision' value='allow'" in response.text
    assert "value='opaque-123'" in response.text


def test_client_id_is_accepted_raw_as_oro_appends_it(oauth_server):
    # Oro http_build_query()s four parameters, then appends "&client_id=" + the raw id.
    query = ("redirect_uri=" + quote(CALLBACK, safe="") +
             "&response_type=code&scope=Account&state=7&client_id=" + CLIENT_ID)
    response = requests.get(f"{oauth_server}/OAuth2/authorise.aspx?{query}", timeout=5)
    assert response.status_code == 200
    double = _authorise_params(client_id=quote(quote(CLIENT_ID, safe=""), safe=""))
    assert requests.get(f"{oauth_server}/OAuth2/authorise.aspx", params=double,
                        timeout=5).status_code == 200


def test_allow_redirects_back_with_code_and_state(oauth_server):
    response = _consent(oauth_server)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(CALLBACK + "?")
    query = _query(response)
    assert query["state"] == "opaque-123" and query["code"]


def test_deny_redirects_back_with_access_denied(oauth_server):
    query = _query(_consent(oauth_server, decision="deny"))
    assert query["error"] == "access_denied" and query["state"] == "opaque-123"
    assert "code" not in query


def test_deny_control_refuses_at_once(oauth_server):
    requests.post(f"{oauth_server}/_emulator/dotdigital/oauth", json={"deny": True}, timeout=5)
    response = requests.get(f"{oauth_server}/OAuth2/authorise.aspx",
                            params=_authorise_params(), allow_redirects=False, timeout=5)
    assert response.status_code == 302 and _query(response)["error"] == "access_denied"


def test_wrong_login_stays_on_the_page(oauth_server):
    response = _consent(oauth_server, password="wrong")
    assert response.status_code == 200
    assert "login details you entered are incorrect" in response.text


@pytest.mark.parametrize("override, text", [
    ({"client_id": "nobody"}, "Unknown client_id"),
    ({"redirect_uri": "https://evil.example.com/cb"}, "Incorrect callback URL"),
])
def test_unknown_client_or_callback_is_an_error_page_not_a_redirect(oauth_server, override,
                                                                      text):
    response = requests.get(f"{oauth_server}/OAuth2/authorise.aspx",
                            params=_authorise_params(**override), allow_redirects=False,
                            timeout=5)
    assert response.status_code == 400 and text in response.text


def test_wrong_scope_or_response_type_redirects_with_the_error(oauth_server):
    for override, error in (({"scope": "Everything"}, "invalid_scope"),
                            ({"response_type": "token"}, "unsupported_response_type")):
        response = requests.get(f"{oauth_server}/OAuth2/authorise.aspx",
                                params=_authorise_params(**override), allow_redirects=False,
                                timeout=5)
        assert response.status_code == 302 and _query(response)["error"] == error


def test_code_swaps_for_access_and_refresh_tokens(oauth_server):
    response = _token(oauth_server, code=_code(oauth_server))
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] and body["refresh_token"]
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert response.headers["Cache-Control"] == "no-store"


def test_a_code_works_once_and_its_replay_revokes_the_refresh_token(oauth_server):
    code = _code(oauth_server)
    first = _token(oauth_server, code=code).json()
    replay = _token(oauth_server, code=code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    refreshed = _token(oauth_server, grant_type="refresh_token",
                       refresh_token=first["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("data, error", [
    ({"client_secret": "wrong"}, "invalid_client"),
    ({"client_id": "nobody"}, "invalid_client"),
    ({"code": "made-up"}, "invalid_grant"),
    ({"redirect_uri": "https://crm.example.com/other"}, "invalid_grant"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"grant_type": ""}, "invalid_request"),
])
def test_token_errors_are_400_with_error_and_description(oauth_server, data, error):
    body = {"code": _code(oauth_server)} | data
    response = _token(oauth_server, **body)
    assert response.status_code == 400
    assert response.json()["error"] == error and response.json()["error_description"]


def test_refresh_token_mints_access_tokens_until_revoked(oauth_server):
    refresh = _token(oauth_server, code=_code(oauth_server)).json()["refresh_token"]
    minted = _token(oauth_server, grant_type="refresh_token", refresh_token=refresh).json()
    assert minted["access_token"]
    requests.post(f"{oauth_server}/_emulator/dotdigital/oauth", json={"revoke": True},
                  timeout=5)
    refused = _token(oauth_server, grant_type="refresh_token", refresh_token=refresh)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_the_app_opens_only_with_a_live_access_token(oauth_server):
    access = _token(oauth_server, code=_code(oauth_server)).json()["access_token"]
    opened = requests.get(f"{oauth_server}/", params={"oauthtoken": access}, timeout=5)
    assert "data-testid='dotdigital-app'" in opened.text and DEFAULT_APP_USER in opened.text
    for token in ("", "forged"):
        page = requests.get(f"{oauth_server}/", params={"oauthtoken": token}, timeout=5)
        assert "Log in to dotdigital" in page.text and "dotdigital-app" not in page.text
    requests.post(f"{oauth_server}/_emulator/dotdigital/oauth", json={"access_token_ttl": -1},
                  timeout=5)
    expired = _token(oauth_server, code=_code(oauth_server)).json()["access_token"]
    page = requests.get(f"{oauth_server}/", params={"oauthtoken": expired}, timeout=5)
    assert "dotdigital-app" not in page.text


def test_reset_forgets_clients_and_tokens(oauth_server):
    refresh = _token(oauth_server, code=_code(oauth_server)).json()["refresh_token"]
    requests.post(f"{oauth_server}/_emulator/reset", timeout=5).raise_for_status()
    state = requests.get(f"{oauth_server}/_emulator/dotdigital/oauth", timeout=5).json()
    assert CLIENT_ID not in state["clients"] and state["refresh_tokens"] == []
    assert _token(oauth_server, grant_type="refresh_token", refresh_token=refresh,
                  client_id=CLIENT_ID).status_code == 400


def test_token_error_control_answers_5xx(oauth_server):
    requests.post(f"{oauth_server}/_emulator/dotdigital/oauth",
                  json={"token_error": {"status": 503}}, timeout=5)
    assert _token(oauth_server, code="x").status_code == 503
