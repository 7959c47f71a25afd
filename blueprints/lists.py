"""Marketing > Marketing Lists: grid, form with filter builder and column picker, view."""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint
from flask import abort
from flask import flash
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from extensions import db
from forms.lists import ListForm
from forms.lists import apply_action
from forms.lists import parse_columns
from forms.lists import parse_filter
from models.lists import ListType
from models.lists import MarketingList
from services import records
from services import records_crud
from services.grid import Column
from services.grid import Grid
from services.marketing_lists import lists as list_service
from services.marketing_lists import sending
from services.marketing_lists.filters import OPERATOR_LABELS
from services.marketing_lists.filters import OPERATORS
from services.marketing_lists.filters import empty_filter
from web.features import require_feature
from web.htmx import redirect_htmx
from web.htmx import render
from web.htmx import wants_fragment
from web.security import permission_required

bp = Blueprint("lists", __name__, url_prefix="/marketing-lists")
require_feature(bp, "marketing_list")

TYPE_CHOICES = tuple((t.value, t.label) for t in ListType)
GRID = Grid("marketing_lists", [
    Column("name", "Name", MarketingList.name),
    Column("entity", "Entity", MarketingList.entity, filter="choice",
           choices=tuple((rt.name, rt.label) for rt in records.RECORD_TYPES.values())),
    Column("type", "Type", MarketingList.type, filter="choice", choices=TYPE_CHOICES),
    Column("created_at", "Created At", MarketingList.created_at, filter="date"),
    # Not sortable: never-used lists have no value, and keyset paging needs one.
    Column("last_used_at", "Last Used", MarketingList.last_used_at, filter="date",
           sortable=False),
], MarketingList.id, default_sort="name")


def _load(list_id: int) -> MarketingList:
    return db.session.get(MarketingList, list_id) or abort(404)


def _builder_context(entity: str, tree: dict, columns: list, errors: dict | None = None):
    record_type = records.RECORD_TYPES.get(entity) or next(iter(records.RECORD_TYPES.values()))
    return {"rt": record_type, "tree": tree, "columns": columns, "errors": errors or {},
            "operators": OPERATORS, "operator_labels": OPERATOR_LABELS}


@bp.get("/")
def lists_index():
    state = GRID.state_from(request.args)
    page = GRID.page(select(MarketingList), state)
    block = "grid" if request.headers.get("HX-Target") == "lists-grid" else "content"
    return render("lists/index.html", block, grid=GRID, page=page,
                  types=dict(TYPE_CHOICES), record_types=records.RECORD_TYPES)


def _form_page(form, mlist=None, tree=None, columns=None, errors=None, status=200):
    form.owner_id.choices = [("", "—"), *records_crud.owners()]
    entity = form.entity.data or "contact"
    if columns is None:
        rt = records.RECORD_TYPES.get(entity) or records.get("contact")
        columns = [{"field": f.key, "label": f.label, "sort": ""}
                   for f in rt.fields.values() if f.key in ("first_name", "last_name", "name",
                                                            rt.email_field)]
    block = "form" if status != 200 else "content"  # a GET is a page, a failed POST a form
    return render("lists/form.html", block, status=status, form=form, mlist=mlist,
                  **_builder_context(entity, tree or empty_filter(), columns, errors))


@bp.get("/new")
def lists_new():
    form = ListForm(owner_id=current_user.id, entity="contact")
    return _form_page(form)


@bp.get("/<int:list_id>/edit")
def lists_edit(list_id: int):
    mlist = _load(list_id)
    form = ListForm(obj=mlist)
    form.type.data = mlist.type.value
    return _form_page(form, mlist, mlist.filter, mlist.columns)


@bp.post("/builder")
@permission_required("edit")
def lists_builder():
    """Re-render the filter builder and column picker after one of their buttons."""
    form = request.form
    action = form.get("action", "")
    entity = form.get("entity", "contact")
    if action == "entity":
        tree, columns = empty_filter(), []
        rt = records.RECORD_TYPES.get(entity)
        if rt is not None:
            columns = [{"field": rt.email_field, "label": rt.fields[rt.email_field].label,
                        "sort": ""}]
    else:
        tree, columns = apply_action(action, parse_filter(form), parse_columns(form))
    return render("lists/form.html", "builder", **_builder_context(entity, tree, columns))


def _input(form: ListForm) -> list_service.ListInput:
    return list_service.ListInput(
        name=form.name.data or "", entity=form.entity.data or "", type=form.type.data or "",
        include_previously_contacted=form.include_previously_contacted.data,
        owner_id=form.owner_id.data, description=form.description.data or "",
        filter=parse_filter(request.form), columns=parse_columns(request.form))


def _save(mlist: MarketingList | None):
    form = ListForm()
    form.owner_id.choices = [("", "—"), *records_crud.owners()]
    tree, columns = parse_filter(request.form), parse_columns(request.form)
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            if mlist is None:
                mlist = list_service.create(_input(form), current_user.id)
            else:
                list_service.update(mlist, _input(form), current_user.id)
        except list_service.ListError as exc:
            errors = exc.errors
            for key in ("name", "entity", "type", "description"):
                if key in errors:
                    form[key].errors = [*form[key].errors, errors[key]]
        else:
            flash("Marketing list saved.", "success")
            return redirect_htmx(url_for("lists.lists_view", list_id=mlist.id))
    return _form_page(form, mlist, tree, columns, errors, status=422)


@bp.post("/new")
@permission_required("edit")
def lists_create():
    return _save(None)


@bp.post("/<int:list_id>/edit")
@permission_required("edit")
def lists_update(list_id: int):
    return _save(_load(list_id))


@bp.post("/<int:list_id>/delete")
@permission_required("edit")
def lists_delete(list_id: int):
    mlist = _load(list_id)
    list_service.delete(mlist)
    flash(f"Marketing list {mlist.name} deleted.", "success")
    return redirect_htmx(url_for("lists.lists_index"))


@bp.post("/<int:list_id>/refresh")
@permission_required("edit")
def lists_refresh(list_id: int):
    mlist = _load(list_id)
    if mlist.type is not ListType.ON_DEMAND:
        flash("Only On demand lists are refreshed by hand; dynamic lists follow the data.",
              "error")
    else:
        run = list_service.refresh_later(mlist, current_user.id)
        db.session.refresh(run)
        if not run.is_active and run.error is None:
            flash("Marketing list successfully refreshed", "success")
    return redirect_htmx(url_for("lists.lists_view", list_id=list_id))


def _grid_page(mlist: MarketingList, removed: bool, args):
    grid = list_service.items_grid(mlist, removed)
    state = grid.state_from(args)
    return grid, grid.page(list_service.items_select(mlist, grid, removed), state)


def _view(mlist: MarketingList, items_args, removed_args, block=None):
    # A grid's own paging and filtering renders that grid alone: query nothing else.
    # Anything else aimed at the page (HX-Location into #main) gets the whole content.
    target = request.headers.get("HX-Target")
    if block in ("items", "removed") and target != f"{block}-grid":
        block = "content"
    alone = block if block in ("items", "removed") and wants_fragment() else None
    context = {"mlist": mlist, "rt": records.get(mlist.entity), "types": dict(TYPE_CHOICES)}
    if alone != "removed":
        context["grid"], context["page"] = _grid_page(mlist, False, items_args)
    if alone != "items":
        context["removed_grid"], context["removed_page"] = _grid_page(mlist, True, removed_args)
    if alone is None:
        context["run"] = list_service.active_refresh(mlist)
        context["counts"] = list_service.member_counts(mlist)
    return render("lists/view.html", block, **context)


@bp.get("/<int:list_id>")
def lists_view(list_id: int):
    return _view(_load(list_id), request.args, MultiDict(), block="items")


@bp.get("/<int:list_id>/removed")
def lists_removed(list_id: int):
    return _view(_load(list_id), MultiDict(), request.args, block="removed")


_ACTIONS = {
    "subscribe": (sending.subscribe, "Subscribed."),
    "unsubscribe": (sending.unsubscribe, "Unsubscribed."),
    "remove": (sending.remove, "Item removed."),
    "unremove": (sending.undo_remove, "Item restored."),
}


@bp.post("/<int:list_id>/items/<int:entity_id>/<action>")
@permission_required("edit")
def lists_item_action(list_id: int, entity_id: int, action: str):
    """Subscribe, unsubscribe, remove or undo; answers with both grids, which refresh
    each other, keeping each grid's filters and page from the hidden state fields."""
    mlist = _load(list_id)
    if action not in _ACTIONS:
        abort(404)
    change, message = _ACTIONS[action]
    change(mlist.id, entity_id)
    flash(message, "success")
    items_args = MultiDict(parse_qsl(request.form.get("items_state", "")[:2000]))
    removed_args = MultiDict(parse_qsl(request.form.get("removed_state", "")[:2000]))
    return _view(mlist, items_args, removed_args, block="grids")
