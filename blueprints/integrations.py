"""System > Integrations (admins only): every type's integrations, one form per type."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import flash
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from extensions import db
from models.integrations import Integration
from models.jobs import JobRun
from services import integrations as integration_service
from web import list_panels
from web.htmx import redirect_htmx
from web.htmx import render
from web.security import permission_required

bp = Blueprint("integrations", __name__, url_prefix="/integrations")
bp.add_app_template_global(list_panels.render_panels, "list_panels")

HISTORY_SIZE = 20


@bp.before_request
@permission_required("admin")
def _admins_only():
    return None


def _type(key: str) -> integration_service.IntegrationType:
    return integration_service.TYPES.get(key) or abort(404)


def _integration(integration_id: int) -> Integration:
    integration = db.session.get(Integration, integration_id) or abort(404)
    if integration.type not in integration_service.TYPES:
        abort(404)
    return integration


def history(integration: Integration) -> list[JobRun]:
    kind = integration_service.TYPES[integration.type]
    targets = kind.run_targets(integration) if kind.run_targets else []
    if not targets:
        return []
    return list(db.session.scalars(select(JobRun).where(
        JobRun.kind.in_(kind.job_kinds), JobRun.target.in_(targets))
        .order_by(JobRun.id.desc()).limit(HISTORY_SIZE)))


@bp.get("/")
def integrations_index():
    return render("integrations/index.html", "content",
                  integrations=integration_service.all_integrations(),
                  types=integration_service.TYPES)


def _form_page(kind, form, integration=None, status=200, block="content"):
    return render("integrations/form.html", block, status=status, kind=kind, form=form,
                  integration=integration,
                  runs=history(integration) if integration and integration.id else [])


@bp.get("/new/<type_key>")
def integrations_new(type_key: str):
    kind = _type(type_key)
    return _form_page(kind, kind.form())


@bp.post("/new/<type_key>")
def integrations_create(type_key: str):
    kind = _type(type_key)
    form = kind.form()
    if form.validate_on_submit():
        if not form.password.data:
            form.password.errors.append("This value should not be blank.")
        else:
            integration = Integration(type=kind.key, settings={})
            kind.apply_form(integration, form)
            try:
                integration_service.save(integration)
            except integration_service.IntegrationError as exc:
                db.session.rollback()
                form.name.errors.append(str(exc))
            else:
                flash(f"Integration {integration.name} saved.", "success")
                if integration.enabled:
                    kind.schedule_sync(integration, current_user.id)
                return redirect_htmx(url_for("integrations.integrations_view",
                                             integration_id=integration.id))
    return _form_page(kind, form, status=422, block="form")


@bp.get("/<int:integration_id>")
def integrations_view(integration_id: int):
    integration = _integration(integration_id)
    kind = _type(integration.type)
    form = kind.form(obj=None, data=_form_data(integration))
    return _form_page(kind, form, integration)


def _form_data(integration: Integration) -> dict:
    data = {"name": integration.name, "enabled": integration.enabled,
            "default_owner": str(integration.default_owner_id or ""),
            "username": integration.api_username, "client_id": integration.oauth_client_id,
            "custom_domain": (integration.settings or {}).get("custom_domain", ""),
            "api_base_url": integration.api_base_url}
    kind = integration_service.TYPES[integration.type]
    return data | (kind.form_data(integration) if kind.form_data else {})


@bp.post("/<int:integration_id>")
def integrations_update(integration_id: int):
    integration = _integration(integration_id)
    kind = _type(integration.type)
    form = kind.form()
    if form.validate_on_submit():
        kind.apply_form(integration, form)
        try:
            integration_service.save(integration)
        except integration_service.IntegrationError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            flash(f"Integration {integration.name} saved.", "success")
            return redirect_htmx(url_for("integrations.integrations_view",
                                         integration_id=integration.id))
    db.session.rollback()
    return _form_page(kind, form, db.session.get(Integration, integration_id), status=422,
                      block="form")


@bp.post("/check/<type_key>")
def integrations_check(type_key: str):
    """Check connection, inline: the unsaved form's values, or the stored password."""
    kind = _type(type_key)
    form = kind.form()
    stored_id = request.form.get("integration_id", "")
    probe = Integration(type=kind.key, settings={})
    if stored_id.isdigit():
        stored = db.session.get(Integration, int(stored_id))
        if stored is not None and stored.type == kind.key:
            probe.api_secret = stored.api_secret
    form.validate()
    kind.apply_form(probe, form)
    try:
        message, ok = kind.check_connection(probe), True
    except integration_service.IntegrationError as exc:
        message, ok = str(exc), False
    return render("integrations/_check.html", "check", message=message, ok=ok)


@bp.post("/<int:integration_id>/sync")
def integrations_sync(integration_id: int):
    integration = _integration(integration_id)
    kind = _type(integration.type)
    if not integration.enabled:
        flash("The integration is inactive; activate it first.", "error")
    else:
        kind.schedule_sync(integration, current_user.id)
        flash("Sync scheduled.", "success")
    return redirect_htmx(url_for("integrations.integrations_view",
                                 integration_id=integration.id))


@bp.get("/<int:integration_id>/history")
def integrations_history(integration_id: int):
    integration = _integration(integration_id)
    return render("integrations/form.html", "history", integration=integration,
                  runs=history(integration))


@bp.post("/<int:integration_id>/delete")
def integrations_delete(integration_id: int):
    integration = _integration(integration_id)
    name = integration.name
    integration_service.delete(integration)
    flash(f"Integration {name} deleted.", "success")
    return redirect_htmx(url_for("integrations.integrations_index"))
