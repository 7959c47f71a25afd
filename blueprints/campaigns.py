"""Marketing > Campaigns: grid, form, merge, and the view page with events and activity."""

from __future__ import annotations

import csv
import io

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
from forms.campaigns import CampaignForm
from models.campaigns import Campaign
from models.campaigns import ReportScale
from services import marketing_activity
from services import settings
from services.campaigns import events as campaign_events
from services.campaigns import service
from services.grid import Column
from services.grid import Grid
from web.features import require_feature
from web.htmx import redirect_htmx
from web.htmx import render
from web.security import permission_required

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")
require_feature(bp, "campaign")

GRID = Grid("campaigns", [
    Column("name", "Name", Campaign.name),
    Column("code", "Code", Campaign.code),
    Column("start_date", "Start Date", Campaign.start_date, filter="date"),
    Column("end_date", "End Date", Campaign.end_date, filter="date"),
    Column("budget", "Budget", Campaign.budget, filter="number"),
], Campaign.id, default_sort="start_date", default_direction="desc")


def _get(campaign_id: int) -> Campaign:
    return db.session.get(Campaign, campaign_id) or abort(404)


def _block(target: str, block: str) -> str:
    """``block`` when htmx swaps that element, else the whole content (HX-Location)."""
    return block if request.headers.get("HX-Target") == target else "content"


@bp.get("/")
def campaigns_index():
    page = GRID.page(select(Campaign), GRID.state_from(request.args))
    return render("campaigns/index.html", _block("campaigns-grid", "grid"), grid=GRID,
                  page=page)


def _form_page(form: CampaignForm, campaign: Campaign | None, status: int = 200,
               block: str = "content"):
    return render("campaigns/form.html", block, status=status, form=form, campaign=campaign)


def _data(form: CampaignForm) -> service.CampaignData:
    return service.CampaignData(
        name=form.name.data or "", code=form.code.data or "", start_date=form.start_date.data,
        end_date=form.end_date.data, description=form.description.data or "",
        budget=form.budget.data, currency=form.currency.data or "",
        report_scale=enum_value(ReportScale, form.report_scale.data,
                                ReportScale.DAILY), owner_id=form.owner_id.data)


def _submit(form: CampaignForm, campaign: Campaign | None):
    valid = form.validate_on_submit()
    # The service's rules run too, so every problem shows at once, one message a field.
    errors = service.validate(_data(form), campaign.id if campaign else None)
    if valid and not errors:
        try:
            saved = service.save(campaign, _data(form))
        except service.CampaignError as exc:
            errors = [exc]
        else:
            flash("Campaign saved.", "success")
            return redirect_htmx(url_for("campaigns.campaigns_view", campaign_id=saved.id))
    for error in errors:
        field = getattr(form, error.field)
        if not field.errors:
            field.errors = [*field.errors, str(error)]
    return _form_page(form, campaign, status=422, block="campaign_form")


@bp.get("/new")
def campaigns_new():
    form = CampaignForm(owner_id=current_user.id)
    return _form_page(form, None)


@bp.post("/new")
@permission_required("edit")
def campaigns_create():
    return _submit(CampaignForm(), None)


@bp.get("/<int:campaign_id>/edit")
def campaigns_edit(campaign_id: int):
    campaign = _get(campaign_id)
    form = CampaignForm(obj=campaign, report_scale=campaign.report_scale.value)
    return _form_page(form, campaign)


@bp.post("/<int:campaign_id>/edit")
@permission_required("edit")
def campaigns_update(campaign_id: int):
    return _submit(CampaignForm(), _get(campaign_id))


@bp.post("/<int:campaign_id>/delete")
@permission_required("edit")
def campaigns_delete(campaign_id: int):
    campaign = _get(campaign_id)
    service.delete_campaigns([campaign.id])
    flash(f"Campaign {campaign.name} deleted.", "success")
    return redirect_htmx(url_for("campaigns.campaigns_index"))


def _selected_ids() -> list[int]:
    return [int(v) for v in request.form.getlist("ids") if v.isdigit()]


@bp.post("/mass")
@permission_required("edit")
def campaigns_mass():
    """Merge or Delete the campaigns ticked in the grid."""
    ids = _selected_ids()
    action = request.form.get("action")
    if action == "delete" and ids:
        deleted = service.delete_campaigns(ids)
        flash(f"{deleted} campaign{'s' if deleted != 1 else ''} deleted.", "success")
        return redirect_htmx(url_for("campaigns.campaigns_index"))
    if action == "merge":
        campaigns = db.session.scalars(select(Campaign).where(Campaign.id.in_(ids))
                                       .order_by(Campaign.name)).all()
        if len(campaigns) >= 2:
            return render("campaigns/merge.html", "content", campaigns=campaigns)
        flash("Select at least two campaigns to merge.", "error")
        return redirect_htmx(url_for("campaigns.campaigns_index"))
    flash("Select campaigns and an action.", "error")
    return redirect_htmx(url_for("campaigns.campaigns_index"))


@bp.post("/merge")
@permission_required("edit")
def campaigns_merge():
    ids = _selected_ids()
    master = request.form.get("master_id", "")
    try:
        if not master.isdigit() or int(master) not in ids:
            raise service.CampaignError("master", "Choose the campaign to keep.")
        kept = service.merge(int(master), ids)
    except service.CampaignError as exc:
        flash(str(exc), "error")
        return redirect_htmx(url_for("campaigns.campaigns_index"))
    flash(f"Campaigns merged into {kept.name}; their codes still track to it.", "success")
    return redirect_htmx(url_for("campaigns.campaigns_view", campaign_id=kept.id))


def _series(campaign: Campaign):
    if not settings.feature_enabled("tracking"):
        return None
    return campaign_events.series_for(campaign, service.codes_of(campaign))


def _filtered_totals(series) -> list[tuple[str, int]]:
    """The Events summary grid: in memory, as there is one row per event name."""
    rows = campaign_events.totals(series) if series else []
    name = (request.args.get("f_name") or "").strip().lower()
    low = _int(request.args.get("f_hits_from"))
    high = _int(request.args.get("f_hits_to"))
    rows = [r for r in rows if name in r[0].lower()
            and (low is None or r[1] >= low) and (high is None or r[1] <= high)]
    key = request.args.get("sort", "hits")
    descending = request.args.get("dir", "desc") == "desc"
    rows.sort(key=(lambda r: r[0].lower()) if key == "name" else (lambda r: r[1]),
              reverse=descending)
    return rows


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def _view(campaign: Campaign, block: str):
    series = _series(campaign)
    activity = (marketing_activity.summary(campaign.id)
                if settings.feature_enabled("marketing_activity") else None)
    return render("campaigns/view.html", block, campaign=campaign,
                  previous_codes=[c for c in service.codes_of(campaign) if c != campaign.code],
                  series=series, totals=_filtered_totals(series), activity=activity)


@bp.get("/<int:campaign_id>")
def campaigns_view(campaign_id: int):
    return _view(_get(campaign_id), "content")


@bp.get("/<int:campaign_id>/events")
def campaigns_events(campaign_id: int):
    """The summary grid (its filters and sorting swap only this block)."""
    return _view(_get(campaign_id), _block("events-grid", "events_grid"))


@bp.get("/<int:campaign_id>/events.svg")
def campaigns_events_chart(campaign_id: int):
    campaign = _get(campaign_id)
    series = _series(campaign)
    if series is None:
        abort(404)
    return Response(campaign_events.chart_svg(series), mimetype="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=60"})


@bp.get("/<int:campaign_id>/events.csv")
def campaigns_events_csv(campaign_id: int):
    campaign = _get(campaign_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Name", "Number of Hits"])
    for name, hits in _filtered_totals(_series(campaign)):
        # A leading =, +, - or @ would run as a formula in a spreadsheet.
        writer.writerow([("'" + name) if name[:1] in "=+-@\t\r" else name, hits])
    filename = f"campaign-{campaign.code}-events.csv"
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
