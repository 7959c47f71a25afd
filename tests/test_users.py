"""System > Users and the `flask users create` command."""

from extensions import db
from models.users import Role
from models.users import User
from services.users import find_by_email
from tests import factories


def test_admin_creates_a_user_who_can_log_in(client, auth):
    auth.login_as(Role.ADMIN)
    response = client.post("/users/", data={"email": "New@Example.com", "name": "New",
                                            "role": "marketer", "password": "long-enough-pw"})
    assert response.status_code == 303
    user = find_by_email("new@example.com")
    assert user.role is Role.MARKETER and user.name == "New"
    auth.logout()
    assert auth.login("new@example.com", "long-enough-pw").status_code == 303


def test_create_user_errors_come_back_in_the_form_fragment(client, auth):
    admin = auth.login_as(Role.ADMIN)
    response = client.post("/users/", data={"email": admin.email, "role": "viewer",
                                            "password": "long-enough-pw"},
                           headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "already exists" in html
    assert "<html" not in html  # a fragment, not a page


def test_create_user_rejects_short_password_and_bad_email(client, auth):
    auth.login_as(Role.ADMIN)
    response = client.post("/users/", data={"email": "not-an-email", "role": "viewer",
                                            "password": "short"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Invalid email address." in html
    assert "Field must be between 8 and 1024 characters long." in html
    assert db.session.query(User).count() == 1


def test_admin_deactivates_and_reactivates_a_user(client, auth):
    auth.login_as(Role.ADMIN)
    other = factories.user(role=Role.MARKETER)
    assert client.post(f"/users/{other.id}/deactivate").status_code == 303
    db.session.refresh(other)
    assert other.active is False
    client.post(f"/users/{other.id}/activate")
    db.session.refresh(other)
    assert other.active is True


def test_admin_cannot_deactivate_themself(client, auth):
    admin = auth.login_as(Role.ADMIN)
    client.post(f"/users/{admin.id}/deactivate")
    db.session.refresh(admin)
    assert admin.active is True
    assert "cannot deactivate your own account" in client.get("/users/").get_data(as_text=True)


def test_last_admin_keeps_the_admin_role(client, auth):
    admin = auth.login_as(Role.ADMIN)
    client.post(f"/users/{admin.id}/role", data={"role": "viewer"})
    db.session.refresh(admin)
    assert admin.role is Role.ADMIN


def test_admin_changes_a_role(client, auth):
    auth.login_as(Role.ADMIN)
    other = factories.user(role=Role.VIEWER)
    client.post(f"/users/{other.id}/role", data={"role": "marketer"})
    db.session.refresh(other)
    assert other.role is Role.MARKETER
    response = client.post(f"/users/{other.id}/role", data={"role": "superuser"})
    assert response.status_code == 303
    db.session.refresh(other)
    assert other.role is Role.MARKETER


def test_admin_resets_a_password(client, auth):
    auth.login_as(Role.ADMIN)
    other = factories.user()
    client.post(f"/users/{other.id}/password", data={"password": "another-password"})
    auth.logout()
    assert auth.login(other.email, "another-password").status_code == 303


def test_unknown_user_is_404(client, auth):
    auth.login_as(Role.ADMIN)
    assert client.post("/users/999/deactivate").status_code == 404


def test_user_page_escapes_names(client, auth):
    auth.login_as(Role.ADMIN)
    factories.user(name="<script>alert(1)</script>")
    html = client.get("/users/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_cli_creates_a_user(runner):
    result = runner.invoke(args=["users", "create", "ops@example.com", "--role", "admin",
                                 "--password", "cli-password-1"])
    assert result.exit_code == 0, result.output
    assert find_by_email("ops@example.com").role is Role.ADMIN


def test_cli_refuses_a_duplicate(runner):
    factories.user(email="ops@example.com")
    result = runner.invoke(args=["users", "create", "ops@example.com", "--password",
                                 "cli-password-1"])
    assert result.exit_code != 0
    assert "already exists" in result.output
