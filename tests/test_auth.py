"""Login, logout, throttling and session invalidation."""

from extensions import db
from models.users import Role
from tests import factories


def test_login_page_renders_form_with_csrf(client):
    response = client.get("/login")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="email"' in html and 'name="password"' in html and 'name="csrf_token"' in html


def test_login_with_right_password_opens_dashboard(client, auth):
    user = factories.user(role=Role.VIEWER)
    response = auth.login(user.email)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert user.display_name in page.get_data(as_text=True)


def test_login_email_is_case_insensitive(client, auth):
    user = factories.user(email="Mixed@Example.com".lower())
    assert auth.login("MIXED@example.COM").status_code == 303
    assert client.get("/").status_code == 200
    assert user.last_login_at is not None


def test_wrong_password_is_refused_with_a_message(client, auth):
    user = factories.user()
    response = auth.login(user.email, "wrong-password")
    assert response.status_code == 422
    assert "Invalid email or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_unknown_email_gets_the_same_message(auth):
    response = auth.login("nobody@example.com", "whatever-password")
    assert response.status_code == 422
    assert "Invalid email or password." in response.get_data(as_text=True)


def test_login_without_csrf_token_is_rejected(client):
    user = factories.user()
    response = client.post("/login", data={"email": user.email, "password": factories.PASSWORD},
                           csrf=False)
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_five_failures_for_one_account_block_even_the_right_password(auth):
    user = factories.user()
    for _ in range(5):
        assert auth.login(user.email, "bad-password").status_code == 422
    response = auth.login(user.email)
    assert response.status_code == 422
    assert "Too many failed login attempts" in response.get_data(as_text=True)


def test_five_failures_from_one_ip_block_other_accounts(auth):
    for n in range(5):
        auth.login(f"guess{n}@example.com", "bad-password")
    other = factories.user()
    response = auth.login(other.email)
    assert "Too many failed login attempts" in response.get_data(as_text=True)


def test_throttle_ends_when_the_window_passes(app, auth):
    from datetime import timedelta

    from models.users import LoginAttempt

    user = factories.user()
    for _ in range(5):
        auth.login(user.email, "bad-password")
    for attempt in db.session.query(LoginAttempt):
        attempt.at = attempt.at - timedelta(minutes=16)
    db.session.commit()
    assert auth.login(user.email).status_code == 303


def test_logout_needs_post_and_ends_the_session(client, auth):
    auth.login_as(Role.VIEWER)
    assert client.get("/logout").status_code == 405
    response = auth.logout()
    assert response.status_code == 303
    assert client.get("/").status_code == 302


def test_deactivated_user_is_logged_out_on_next_request(client, auth):
    user = auth.login_as(Role.MARKETER)
    assert client.get("/").status_code == 200
    user.active = False
    db.session.commit()
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_password_reset_ends_existing_sessions(client, auth):
    user = auth.login_as(Role.MARKETER)
    user.set_password("a-brand-new-password")
    db.session.commit()
    assert client.get("/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client):
    user = factories.user()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        client.post("/logout")
        response = client.post(f"/login?next={target}",
                               data={"email": user.email, "password": factories.PASSWORD})
        assert response.headers["Location"] == "/", target


def test_next_parameter_returns_to_the_page_asked_for(client):
    user = factories.user(role=Role.ADMIN)
    response = client.post("/login?next=/users/",
                           data={"email": user.email, "password": factories.PASSWORD})
    assert response.headers["Location"] == "/users/"


def test_passwords_are_stored_as_scrypt_hashes(app):
    user = factories.user()
    assert user.password_hash.startswith("scrypt:")
    assert factories.PASSWORD not in user.password_hash
