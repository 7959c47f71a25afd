"""Marketing > Email Campaigns: templates, campaigns, sending, statistics and recipients."""

from __future__ import annotations

import click
from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from extensions import db
from forms import enum_value
from forms.email_campaigns import EmailCampaignForm
from forms.email_campaigns import EmailTemplateForm
from models.campaigns import Campaign
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.email_campaigns import EmailTemplate
from models.email_campaigns import RecipientStatus
from models.email_campaigns import Schedule
from models.lists import MarketingList
from services import records
from services.email_campaigns import service
from services.email_campaigns import statistics
from services.email_campaigns import templates as template_service
from services.grid import Column
from services.grid import Grid
from services.marketing_lists import sending
from web.features import require_feature
from web.htmx import redirect_htmx
from web.htmx import render
from web.security import permission_required

bp = Blueprint("email_campaigns", __name__, url_prefix="/email-campaigns")
require_feature(bp, "campaign")

# A subquery, not an outer join: the grid must see that this sort can be NULL (it sorts
# NULLs last only for nullable expressions, and Campaign.name itself is NOT NULL).
CAMPAIGN_NAME = (select(Campaign.name).where(Campaign.id == EmailCampaign.campaign_id)
                 .correlate(EmailCampaign).scalar_subquery())

GRID = Grid("email_campaigns", [
    Column("name", "Name", EmailCampaign.name),
    Column("sender_email", "Sender Email", EmailCampaign.sender_email),
    Column("sender_name", "Sender Name", EmailCampaign.sender_name),
    Column("campaign_name", "Campaign", CAMPAIGN_NAME),
    Column("list_name", "Marketing List", MarketingList.name),
    Column("schedule", "Schedule", EmailCampaign.schedule, filter="choice",
           choices=tuple((s.value, s.label) for s in Schedule)),
    Column("scheduled_for", "Scheduled For", EmailCampaign.scheduled_for, filter="date"),
    Column("is_sent", "Sent", EmailCampaign.is_sent, filter="bool"),
    Column("sent_at", "Sent At", EmailCampaign.sent_at, filter="date"),
    Column("created_at", "Created At", EmailCampaign.created_at, filter="date"),
    Column("updated_at", "Updated At", EmailCampaign.updated_at, filter="date"),
], EmailCampaign.id, default_sort="name")

R = EmailCampaignRecipient
RECIPIENTS_GRID = Grid("recipients", [
    Column("email", "Email", R.email),
    Column("status", "Status", R.status, filter="choice",
           choices=tuple((s.value, s.label) for s in RecipientStatus)),
    Column("sent_at", "Sent At", R.sent_at, filter="date"),
    Column("open_count", "Open", R.open_count, filter="number"),
    Column("click_count", "Click", R.click_count, filter="number"),
    Column("bounce_count", "Bounce", R.bounce_count, filter="number"),
    Column("abuse_count", "Abuse", R.abuse_count, filter="number"),
    Column("unsubscribe_count", "Unsubscribe", R.unsubscribe_count, filter="number"),
], R.id, default_sort="email")


def _get(campaign_id: int) -> EmailCampaign:
    return db.session.get(EmailCampaign, campaign_id) or abort(404)


# -- email campaigns ---------------------------------------------------------------
@bp.get("/")
def email_campaigns_index():
    query = select(EmailCampaign).join(MarketingList)
    page = GRID.page(query, GRID.state_from(request.args))
    return render("email_campaigns/index.html", _block("email-campaigns-grid", "grid"),
                  grid=GRID, page=page)


def _block(target: str, block: str) -> str:
    """``block`` when htmx swaps that element, else the whole content (HX-Location)."""
    return block if request.headers.get("HX-Target") == target else "content"


def _form_page(form, campaign, status=200, block="content"):
    return render("email_campaigns/form.html", block, status=status, form=form,
                  campaign=campaign)


def _data(form: EmailCampaignForm) -> service.EmailCampaignData:
    return service.EmailCampaignData(
        name=form.name.data or "", marketing_list_id=form.marketing_list_id.data,
        schedule=enum_value(Schedule, form.schedule.data, Schedule.MANUAL),
        scheduled_for=form.scheduled_for.data, owner_id=form.owner_id.data,
        sender_email=form.sender_email.data or "", sender_name=form.sender_name.data or "",
        campaign_id=form.campaign_id.data, description=form.description.data or "",
        transport=form.transport.data or "", template_id=form.template_id.data,
        integration_id=form.integration_id.data if form.needs_integration else None)


def _submit(form: EmailCampaignForm, campaign: EmailCampaign | None):
    valid = form.validate_on_submit()
    # Every problem at once, the form's and the service's, not one round trip each.
    errors = service.validate(_data(form))
    if valid and not errors:
        try:
            saved = service.save(campaign, _data(form))
        except service.EmailCampaignError as exc:
            errors = [exc]
        else:
            flash("Email campaign saved.", "success")
            return redirect_htmx(url_for("email_campaigns.email_campaigns_view",
                                         campaign_id=saved.id))
    for error in errors:
        field = getattr(form, error.field, form.name)
        if not field.errors:
            field.errors = [*field.errors, str(error)]
    return _form_page(form, campaign, status=422, block="email_campaign_form")


@bp.get("/new")
def email_campaigns_new():
    return _form_page(EmailCampaignForm(owner_id=current_user.id, transport="email"), None)


@bp.post("/new")
@permission_required("edit")
def email_campaigns_create():
    return _submit(EmailCampaignForm(), None)


@bp.get("/<int:campaign_id>/edit")
def email_campaigns_edit(campaign_id: int):
    campaign = _get(campaign_id)
    if campaign.is_sent:
        flash("A sent email campaign cannot be changed.", "error")
        return redirect_htmx(url_for("email_campaigns.email_campaigns_view",
                                     campaign_id=campaign.id))
    form = EmailCampaignForm(obj=campaign, schedule=campaign.schedule.value,
                             integration_id=(campaign.transport_settings or {})
                             .get("integration_id"))
    return _form_page(form, campaign)


@bp.get("/transport-fields")
def email_campaigns_transport_fields():
    """The transport-dependent part of the form, re-rendered when the Transport changes."""
    raw = request.args.get("integration_id", "")
    form = EmailCampaignForm(transport=request.args.get("transport", ""),
                             integration_id=int(raw) if raw.isdigit() else None)
    return _form_page(form, None, block="transport_fields")


@bp.post("/<int:campaign_id>/edit")
@permission_required("edit")
def email_campaigns_update(campaign_id: int):
    return _submit(EmailCampaignForm(), _get(campaign_id))


@bp.post("/<int:campaign_id>/delete")
@permission_required("edit")
def email_campaigns_delete(campaign_id: int):
    campaign = _get(campaign_id)
    run = service.latest_run(campaign)
    if run is not None and run.is_active:
        flash("The email campaign is being sent; delete it once the run ends.", "error")
        return redirect_htmx(url_for("email_campaigns.email_campaigns_view",
                                     campaign_id=campaign.id))
    service.delete(campaign)
    flash(f"Email campaign {campaign.name} deleted.", "success")
    return redirect_htmx(url_for("email_campaigns.email_campaigns_index"))


def _recipients_page(campaign: EmailCampaign):
    if campaign.is_sent or db.session.scalar(
            select(R.id).where(R.email_campaign_id == campaign.id).limit(1)):
        grid = RECIPIENTS_GRID
        page = grid.page(select(R).where(R.email_campaign_id == campaign.id),
                         grid.state_from(request.args))
        return grid, page, True
    grid, query = _members_grid(campaign)
    return grid, grid.page(query, grid.state_from(request.args)), False


def _members_grid(campaign: EmailCampaign):
    """Before sending: the list's sending set (no removed or unsubscribed members)."""
    mlist = campaign.marketing_list
    record_type = records.get(mlist.entity)
    sq = sending.sending_set_query(mlist.id).order_by(None).subquery()
    columns = [Column("email", "Email", sq.c.email)]
    chosen = [c.get("field") for c in (mlist.columns or []) if isinstance(c, dict)]
    for key in chosen:
        definition = record_type.fields.get(key)
        if definition is None or key == record_type.email_field:
            continue
        columns.append(Column(f"f_{key}", definition.label, sq.c[f"f_{key}"],
                              filter="text" if definition.type in ("string", "email", "phone")
                              else None))
    grid = Grid(f"members-{mlist.id}", columns, sq.c.entity_id, default_sort="email")
    query = select(sq.c.entity_id.label("id"), *[c.expr for c in columns])
    return grid, query


def _view(campaign: EmailCampaign, block: str):
    grid, page, after_send = _recipients_page(campaign)
    return render("email_campaigns/view.html", block, campaign=campaign,
                  integration=service.integration_of(campaign),
                  sender=service.sender_of(campaign), totals=statistics.totals(campaign.id),
                  problems=service.send_problems(campaign) if not campaign.is_sent else [],
                  run=service.latest_run(campaign), grid=grid, page=page,
                  after_send=after_send)


@bp.get("/<int:campaign_id>")
def email_campaigns_view(campaign_id: int):
    return _view(_get(campaign_id), "content")


@bp.get("/<int:campaign_id>/recipients")
def email_campaigns_recipients(campaign_id: int):
    return _view(_get(campaign_id), _block("recipients-grid", "recipients"))


@bp.get("/<int:campaign_id>/statistics")
def email_campaigns_statistics(campaign_id: int):
    """The statistics block, which refreshes itself while the page is open."""
    return _view(_get(campaign_id), _block("email-campaign-statistics", "statistics"))


@bp.post("/<int:campaign_id>/send")
@permission_required("edit")
def email_campaigns_send(campaign_id: int):
    campaign = _get(campaign_id)
    if campaign.schedule is not Schedule.MANUAL:
        flash("Deferred email campaigns are sent by the scheduler once due.", "error")
    else:
        try:
            service.request_send(campaign, current_user.id)
        except service.EmailCampaignError as exc:
            flash("Email campaign could not be sent. Please, check that all settings are "
                  f"correct. {exc}", "error")
        else:
            flash("Email campaign was sent to the queue.", "success")
    return redirect_htmx(url_for("email_campaigns.email_campaigns_view", campaign_id=campaign.id))


# -- email templates ---------------------------------------------------------------
def _get_template(template_id: int) -> EmailTemplate:
    return db.session.get(EmailTemplate, template_id) or abort(404)


@bp.get("/templates/")
def templates_index():
    rows = db.session.scalars(select(EmailTemplate).order_by(EmailTemplate.name)).all()
    return render("email_templates/index.html", "content", templates=rows)


def _template_page(form, template, status=200, block="content"):
    return render("email_templates/form.html", block, status=status, form=form,
                  email_template=template)


def _template_submit(form: EmailTemplateForm, template: EmailTemplate | None):
    valid = form.validate_on_submit()
    errors = template_service.validate(form.name.data or "", form.subject.data or "",
                                       form.html_body.data or "", form.text_body.data or "",
                                       template.id if template else None)
    if valid and not errors:
        try:
            saved = template_service.save(template, name=form.name.data,
                                          subject=form.subject.data,
                                          html_body=form.html_body.data or "",
                                          text_body=form.text_body.data or "",
                                          owner_id=current_user.id)
        except template_service.TemplateError as exc:
            errors = [exc]
        else:
            flash("Email template saved.", "success")
            return redirect_htmx(url_for("email_campaigns.templates_preview",
                                         template_id=saved.id))
    for error in errors:
        field = getattr(form, error.field)
        if not field.errors:
            field.errors = [*field.errors, str(error)]
    return _template_page(form, template, status=422, block="template_form")


@bp.get("/templates/new")
def templates_new():
    return _template_page(EmailTemplateForm(), None)


@bp.post("/templates/new")
@permission_required("edit")
def templates_create():
    return _template_submit(EmailTemplateForm(), None)


@bp.get("/templates/<int:template_id>/edit")
def templates_edit(template_id: int):
    template = _get_template(template_id)
    return _template_page(EmailTemplateForm(obj=template), template)


@bp.post("/templates/<int:template_id>/edit")
@permission_required("edit")
def templates_update(template_id: int):
    return _template_submit(EmailTemplateForm(), _get_template(template_id))


@bp.post("/templates/<int:template_id>/delete")
@permission_required("edit")
def templates_delete(template_id: int):
    template = _get_template(template_id)
    try:
        template_service.delete(template)
    except template_service.TemplateError as exc:
        flash(str(exc), "error")
        return redirect_htmx(url_for("email_campaigns.templates_preview",
                                     template_id=template.id))
    flash(f"Email template {template.name} deleted.", "success")
    return redirect_htmx(url_for("email_campaigns.templates_index"))


def _list_id() -> int | None:
    raw = request.args.get("list_id", "")
    return int(raw) if raw.isdigit() else None


@bp.get("/templates/<int:template_id>")
def templates_preview(template_id: int):
    template = _get_template(template_id)
    lists = db.session.scalars(select(MarketingList).order_by(MarketingList.name)).all()
    return render("email_templates/preview.html", _block("template-preview", "preview"),
                  email_template=template,
                  lists=lists,
                  list_id=_list_id(), preview=template_service.preview(template, _list_id()))


@bp.get("/templates/<int:template_id>/preview.html")
def templates_preview_body(template_id: int):
    """The rendered HTML body alone, for the preview's sandboxed iframe."""
    result = template_service.preview(_get_template(template_id), _list_id())
    body = result["rendered"].html if result["rendered"] else ""
    response = Response(body, mimetype="text/html")
    # Marketer-written HTML: no scripts, no forms, framed only by this application.
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.cli.command("webhook-key")
def webhook_key_command() -> None:
    """Print the HMAC key the mail relay signs bounce and complaint notifications with."""
    click.echo(statistics.webhook_key().decode())
