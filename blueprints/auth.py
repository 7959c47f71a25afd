"""Login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user

from forms.auth import LoginForm
from services import auth
from web.htmx import render

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an absolute or scheme-relative URL would be an open redirect.
    if target and target.startswith("/") and not target.startswith("//") \
            and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        result = auth.authenticate(form.email.data, form.password.data,
                                   request.remote_addr or "unknown")
        if result.user:
            login_user(result.user)
            return redirect(_safe_next(request.args.get("next")), 303)
        form.form_errors.append(result.error)
        return render("auth/login.html", "login_form", status=422, form=form)
    status = 422 if request.method == "POST" else 200
    return render("auth/login.html", "login_form", status=status, form=form)


@bp.post("/logout")
def logout():
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"), 303)
