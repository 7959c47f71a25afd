"""Mailchimp on a marketing list (connect, synchronize, disconnect) and on email campaigns."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import flash
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from extensions import db
from forms.mailchimp import ConnectForm
from integrations.mailchimp import audiences
from integrations.mailchimp import campaigns as mc_campaigns
from integrations.mailchimp import integration as mc_integration
from integrations.mailchimp.sync import list_problems
from jobs import runner
from jobs.mailchimp import LIST_SYNC
from jobs.mailchimp import list_target
from jobs.mailchimp import start_list_sync
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import SyncStatus
from models.jobs import JobRun
from models.jobs import JobStatus
from models.lists import MarketingList
from services import integrations as integration_service
from services.email_campaigns import transports
from web import list_panels
from web.htmx import redirect_htmx
from web.htmx import render
from web.htmx import wants_fragment
from web.security import permission_required

bp = Blueprint("mailchimp", __name__, url_prefix="/mailchimp")
bp.add_app_template_global(transports.render_panel, "transport_panel")
TYPE = mc_integration.TYPE
LABELS = {SyncStatus.NOT_SYNCED: "Not Synced", SyncStatus.IN_PROGRESS: "In Progress",
          SyncStatus.UP_TO_DATE: "Up to date", SyncStatus.FAILED: "Sync failed",
          SyncStatus.REMOTE_MISSING: "Audience deleted in Mailchimp"}


def _integrations(enabled_only: bool = True) -> list[Integration]:
    return integration_service.of_type(TYPE, enabled_only)


def _integration(raw) -> Integration | None:
    if not str(raw or "").isdigit():
        return None
    integration = db.session.get(Integration, int(raw))
    return integration if integration is not None and integration.type == TYPE else None


def _list(list_id: int) -> MarketingList:
    return db.session.get(MarketingList, list_id) or abort(404)


def status_label(connection: ListConnection, run: JobRun | None) -> str:
    if run is not None and run.status is JobStatus.QUEUED:
        return "Scheduled for Sync"
    if run is not None and run.status is JobStatus.RUNNING:
        return "In Progress"
    return LABELS.get(connection.sync_status, connection.sync_status.label)


def panel_context(mlist: MarketingList) -> dict | None:
    connection = audiences.for_list(mlist.id)
    if connection is None and not _integrations():
        return None
    run, recent, rejected, audience = None, [], [], ""
    if connection is not None:
        recent = list(db.session.scalars(select(JobRun).where(
            JobRun.kind == LIST_SYNC, JobRun.target == list_target(connection.id))
            .order_by(JobRun.id.desc()).limit(5)))
        run = next((r for r in recent if r.is_active), None)
        rejected = list_problems(connection)
        audience = audiences.audience_name(connection)
    return {"connection": connection, "mc_run": run, "mc_runs": recent,
            "mc_rejected": rejected, "mc_audience": audience,
            "mc_status": status_label(connection, run) if connection else ""}


list_panels.register(list_panels.ListPanel("mailchimp", "mailchimp/_list_panel.html",
                                           panel_context))


def _panel(mlist: MarketingList, status: int = 200, **extra):
    if request.method == "POST" and not wants_fragment() and status < 400:
        return redirect_htmx(url_for("lists.lists_view", list_id=mlist.id))
    context = panel_context(mlist) or {"connection": None, "mc_run": None, "mc_runs": [],
                                       "mc_rejected": [], "mc_audience": "", "mc_status": ""}
    return render("mailchimp/_list_panel.html", "panel", status=status, mlist=mlist,
                  **context, **extra)


@bp.get("/lists/<int:list_id>/panel")
def list_panel(list_id: int):
    return _panel(_list(list_id))


def _connect_form(connection: ListConnection | None, form: ConnectForm | None = None):
    if form is None:
        data = None
        if connection is not None:
            data = {"integration": str(connection.integration_id),
                    "audience": audiences.split(connection)[0],
                    "segment_name": connection.remote_name}
        form = ConnectForm(data=data)
    form.integration.choices = [("", "Choose a Mailchimp integration")] + [
        (str(i.id), i.name) for i in _integrations()]
    chosen = request.values.get("integration") or form.integration.data
    if not chosen and len(form.integration.choices) == 2:
        chosen = form.integration.choices[1][0]
    form.integration.data = chosen
    integration = _integration(chosen)
    form.audience.choices = [("", "Choose an audience")] + [
        (a.remote_id, a.name) for a in (audiences.audiences_of(integration.id)
                                        if integration else [])]
    return form


def _dialog(mlist, connection, form=None, status=200, in_panel=False):
    form = _connect_form(connection, form)
    if in_panel:
        return _panel(mlist, status=status, form=form)
    return render("mailchimp/_connect.html", "dialog", status=status, mlist=mlist,
                  connection=connection, form=form)


@bp.get("/lists/<int:list_id>/connect")
@permission_required("edit")
def list_connect_form(list_id: int):
    mlist = _list(list_id)
    return _dialog(mlist, audiences.for_list(mlist.id))


@bp.post("/lists/<int:list_id>/connect")
@permission_required("edit")
def list_connect(list_id: int):
    mlist = _list(list_id)
    connection = audiences.for_list(mlist.id)
    form = ConnectForm()
    _connect_form(connection, form)
    if form.validate_on_submit():
        integration = _integration(form.integration.data)
        if integration is None or not integration.enabled:
            form.integration.errors.append("Choose a Mailchimp integration.")
        elif connection is not None and runner.active_run(LIST_SYNC,
                                                          list_target(connection.id)):
            form.segment_name.errors.append("A synchronization is running; change the "
                                            "connection when it has finished.")
        else:
            try:
                connection = audiences.connect(mc_integration.client_for(integration), mlist,
                                               integration, form.audience.data,
                                               form.segment_name.data, connection)
            except (audiences.ConnectError, integration_service.IntegrationError) as exc:
                db.session.rollback()
                getattr(form, getattr(exc, "field", "segment_name")).errors.append(str(exc))
            else:
                start_list_sync(connection, current_user.id)
                flash("Marketing List connected to Mailchimp; it is being synchronized.",
                      "success")
                return _panel(mlist)
    return _dialog(mlist, connection, form, status=422, in_panel=True)


def _connection(mlist: MarketingList) -> ListConnection:
    return audiences.for_list(mlist.id) or abort(404)


@bp.post("/lists/<int:list_id>/synchronize")
@permission_required("sync")
def list_synchronize(list_id: int):
    mlist = _list(list_id)
    connection = _connection(mlist)
    if not connection.integration.enabled:
        flash("Marketing List synchronization with MailChimp failed: the integration is "
              "inactive.", "error")
    else:
        start_list_sync(connection, current_user.id)
        flash("Marketing List scheduled to synchronize with MailChimp", "success")
    return _panel(mlist)


@bp.post("/lists/<int:list_id>/disconnect")
@permission_required("edit")
def list_disconnect(list_id: int):
    mlist = _list(list_id)
    connection = _connection(mlist)
    if runner.active_run(LIST_SYNC, list_target(connection.id)):
        flash("A synchronization is running; disconnect when it has finished.", "error")
    else:
        audiences.disconnect(connection)
        flash("The list is unlinked from MailChimp; the segment stays in Mailchimp.", "success")
    return _panel(mlist)


# -- email campaigns ------------------------------------------------------------------------
@bp.post("/email-campaigns/<int:campaign_id>/activities")
@permission_required("edit")
def campaign_activities(campaign_id: int):
    mc = mc_campaigns.for_email_campaign(campaign_id) or abort(404)
    if mc_campaigns.activities_state(mc) == "Expired":
        flash("The Activity Update Interval of this campaign has passed.", "error")
    else:
        mc.receive_activities = not mc.receive_activities
        db.session.commit()
        word = "enabled" if mc.receive_activities else "disabled"
        flash(f"Receiving of connected MailChimp campaign activities {word}", "success")
    return redirect_htmx(url_for("email_campaigns.email_campaigns_view",
                                 campaign_id=campaign_id))
