"""System > Users (admins only)."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import flash
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from extensions import db
from forms.users import PasswordResetForm
from forms.users import RoleForm
from forms.users import UserCreateForm
from models.users import Role
from models.users import User
from services import users as user_service
from web.htmx import redirect_htmx
from web.htmx import render
from web.security import permission_required

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.before_request
@permission_required("admin")
def _admins_only():
    return None


def _get_user(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


def _index(form: UserCreateForm, status: int = 200, block: str = "content"):
    rows = db.session.scalars(select(User).order_by(User.email)).all()
    return render("users/index.html", block, status=status, users=rows, form=form,
                  role_form=RoleForm, reset_form=PasswordResetForm)


@bp.get("/")
def users_index():
    return _index(UserCreateForm())


@bp.post("/")
def users_create():
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = user_service.create_user(form.email.data, form.password.data,
                                            form.role.data, form.name.data or "")
        except user_service.UserError as exc:
            form.email.errors.append(str(exc))
        else:
            flash(f"User {user.email} created.", "success")
            return redirect_htmx(url_for("users.users_index"))
    return _index(form, status=422, block="create_form")


def _change(change, success: str):
    try:
        change()
    except user_service.UserError as exc:
        flash(str(exc), "error")
    else:
        flash(success, "success")
    return redirect_htmx(url_for("users.users_index"))


@bp.post("/<int:user_id>/deactivate")
def users_deactivate(user_id: int):
    user = _get_user(user_id)
    return _change(lambda: user_service.set_active(user, False, current_user),
                   f"{user.email} is deactivated.")


@bp.post("/<int:user_id>/activate")
def users_activate(user_id: int):
    user = _get_user(user_id)
    return _change(lambda: user_service.set_active(user, True, current_user),
                   f"{user.email} is active again.")


@bp.post("/<int:user_id>/role")
def users_role(user_id: int):
    user = _get_user(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choose a valid role.", "error")
        return redirect_htmx(url_for("users.users_index"))
    role = Role(form.role.data)
    return _change(lambda: user_service.set_role(user, role, current_user),
                   f"{user.email} is now {role.label}.")


@bp.post("/<int:user_id>/password")
def users_password(user_id: int):
    user = _get_user(user_id)
    form = PasswordResetForm()
    if not form.validate_on_submit():
        flash("; ".join(form.password.errors) or "Enter a new password.", "error")
        return redirect_htmx(url_for("users.users_index"))
    return _change(lambda: user_service.reset_password(user, form.password.data),
                   f"Password of {user.email} reset; their other sessions are closed.")
