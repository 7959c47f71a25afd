"""Marketing > Tracking Websites: grid, form, and the view page (snippet, verify, events)."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import flash
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

import jobs
from extensions import db
from forms.tracking import SnippetOptionsForm
from forms.tracking import WebsiteForm
from forms.tracking import owner_choices
from models.tracking import TrackingWebsite
from models.users import User
from services import settings
from services.grid import Column
from services.grid import Grid
from services.tracking import events
from services.tracking import snippet
from services.tracking import websites
from web.features import require_feature
from web.htmx import redirect_htmx
from web.htmx import render
from web.htmx import wants_fragment
from web.security import permission_required

bp = Blueprint("tracking", __name__, url_prefix="/tracking")
require_feature(bp, "tracking")

GRID = Grid("tracking_websites", [
    Column("name", "Name", TrackingWebsite.name),
    Column("identifier", "Identifier", TrackingWebsite.identifier),
    Column("url", "Url", TrackingWebsite.url),
    Column("owner", "Owner", User.email, sortable=False),
    Column("created_at", "Created At", TrackingWebsite.created_at, filter="date"),
    Column("updated_at", "Updated At", TrackingWebsite.updated_at, filter="date"),
], TrackingWebsite.id, default_sort="identifier")


def _get(website_id: int) -> TrackingWebsite:
    return db.session.get(TrackingWebsite, website_id) or abort(404)


@bp.get("/websites/")
def websites_index():
    query = select(TrackingWebsite).outerjoin(User, User.id == TrackingWebsite.owner_id)
    page = GRID.page(query, GRID.state_from(request.args))
    return render("tracking/index.html", "grid", grid=GRID, page=page)


def _form(form: WebsiteForm) -> WebsiteForm:
    form.owner_id.choices = owner_choices()
    return form


def _form_page(form: WebsiteForm, website: TrackingWebsite | None, status: int = 200,
               block: str = "content"):
    return render("tracking/form.html", block, status=status, form=form, website=website)


def _submit(form: WebsiteForm, website: TrackingWebsite | None):
    if form.validate_on_submit():
        data = websites.WebsiteData(name=form.name.data, identifier=form.identifier.data,
                                    url=form.url.data, description=form.description.data or "",
                                    owner_id=form.owner_id.data)
        try:
            saved = websites.save(website, data)
        except websites.WebsiteError as exc:
            getattr(form, exc.field).errors = [*getattr(form, exc.field).errors, str(exc)]
        else:
            flash("Tracking website saved.", "success")
            return redirect_htmx(url_for("tracking.websites_view", website_id=saved.id))
    return _form_page(form, website, status=422, block="website_form")


@bp.get("/websites/new")
def websites_new():
    return _form_page(_form(WebsiteForm(owner_id=current_user.id)), None)


@bp.post("/websites/new")
@permission_required("edit")
def websites_create():
    return _submit(_form(WebsiteForm()), None)


@bp.get("/websites/<int:website_id>/edit")
def websites_edit(website_id: int):
    website = _get(website_id)
    return _form_page(_form(WebsiteForm(obj=website)), website)


@bp.post("/websites/<int:website_id>/edit")
@permission_required("edit")
def websites_update(website_id: int):
    return _submit(_form(WebsiteForm()), _get(website_id))


@bp.post("/websites/<int:website_id>/delete")
@permission_required("edit")
def websites_delete(website_id: int):
    website = _get(website_id)
    name = website.name
    websites.delete_website(website)
    flash(f"Tracking website {name} deleted.", "success")
    return redirect_htmx(url_for("tracking.websites_index"))


def app_url() -> str:
    """This application as tracked sites reach it: the setting, else this request's."""
    configured = settings.public_url()
    return configured + "/" if configured else request.url_root


def _snippet_context(website: TrackingWebsite) -> dict:
    options_form = SnippetOptionsForm(request.args)
    options_form.validate()
    options = snippet.SnippetOptions(
        campaign=(options_form.campaign.data or "") if not options_form.campaign.errors else "",
        respect_dnt=bool(options_form.respect_dnt.data),
        cookieless=bool(options_form.cookieless.data),
        require_consent=bool(options_form.require_consent.data),
        noscript=bool(options_form.noscript.data), csp_safe=bool(options_form.csp_safe.data))
    root = app_url()
    return {"options_form": options_form,
            "code": snippet.generate(website.identifier, root, options),
            "instructions": snippet.INSTRUCTIONS,
            "insecure": not root.lower().startswith("https:")}


def _view(website_id: int, block: str):
    """The view page, or one of its blocks; every block's URL also serves the whole page."""
    website = _get(website_id)
    whole = block == "content" or not wants_fragment()
    # A fragment computes only what its block shows: the grid and the panel poll often.
    context = {"website": website}
    if whole or block == "events":
        context.update(events_grid=events.EVENTS_GRID,
                       page=events.events_page(website.id, request.args))
    if whole or block == "verify":
        context["verify_state"] = events.verify_status(website.id)
    if whole or block == "tracking_code":
        context.update(_snippet_context(website))
    return render("tracking/view.html", block, **context)


@bp.get("/websites/<int:website_id>")
def websites_view(website_id: int):
    return _view(website_id, "content")


@bp.get("/websites/<int:website_id>/snippet")
def websites_snippet(website_id: int):
    return _view(website_id, "tracking_code")


@bp.get("/websites/<int:website_id>/events")
def websites_events(website_id: int):
    return _view(website_id, "events")


@bp.get("/websites/<int:website_id>/verify")
def websites_verify(website_id: int):
    return _view(website_id, "verify")


@bp.post("/process")
@permission_required("edit")
def process_hits():
    """Drain queued hits now instead of waiting for the Log Rotation Interval."""
    run = jobs.enqueue("tracking_drain", "", {"force": True}, user_id=current_user.id)
    flash(f"Processing queued hits (job run #{run.id}).", "info")
    return redirect_htmx(request.referrer if _same_site(request.referrer)
                         else url_for("tracking.websites_index"))


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)

