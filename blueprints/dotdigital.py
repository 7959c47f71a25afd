"""Marketing > dotdigital: Data Fields, Data Field Mappings, and the marketing-list panel.

The "Email Studio" page (dotdigital.email_studio) is in blueprints.dotdigital_sso.
"""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import flash
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from extensions import db
from forms.dotdigital import AddressBookForm
from forms.dotdigital import ConnectForm
from forms.dotdigital import DataFieldForm
from forms.dotdigital import MappingForm
from integrations.dotdigital import books
from integrations.dotdigital import fields as data_fields
from integrations.dotdigital.integration import TYPE
from integrations.dotdigital.sync import client_for
from jobs import runner
from jobs.dotdigital import LIST_SYNC
from jobs.dotdigital import list_target
from jobs.dotdigital import start_integration_sync
from jobs.dotdigital import start_list_sync
from models.integrations import DataField
from models.integrations import FieldMapping
from models.integrations import Integration
from models.integrations import ListConnection
from models.jobs import JobRun
from models.lists import MarketingList
from services import integrations as integration_service
from services import records
from services.grid import Column
from services.grid import Grid
from services.integrations import connections
from services.sync import plan
from web import list_panels
from web.htmx import redirect_htmx
from web.htmx import render
from web.htmx import wants_fragment
from web.security import permission_required

bp = Blueprint("dotdigital", __name__, url_prefix="/dotdigital")

FIELDS_GRID = Grid("dotdigital_data_fields", [
    Column("channel", "Channel", Integration.name, sortable=False),
    Column("name", "Name", DataField.name),
    Column("type", "Type", DataField.type, filter="choice",
           choices=tuple((t, t) for t in data_fields.TYPES)),
    Column("visibility", "Visibility", DataField.visibility, filter="choice",
           choices=tuple((v, v) for v in data_fields.VISIBILITIES)),
    Column("notes", "Notes", DataField.notes, sortable=False, filter=None),
], DataField.id, default_sort="name")
MAPPINGS_GRID = Grid("dotdigital_mappings", [
    Column("channel", "Channel", Integration.name, sortable=False),
    Column("entity", "Entity", FieldMapping.entity, filter="choice",
           choices=tuple((rt.name, rt.label) for rt in records.RECORD_TYPES.values())),
    Column("sync_priority", "Sync Priority", FieldMapping.sync_priority, filter="number"),
], FieldMapping.id, default_sort="entity")
MAPPING_ROWS_BLANK = 3


def _integrations(enabled_only: bool = False) -> list[Integration]:
    return integration_service.of_type(TYPE, enabled_only)


def _integration(raw) -> Integration | None:
    if not str(raw or "").isdigit():
        return None
    integration = db.session.get(Integration, int(raw))
    return integration if integration is not None and integration.type == TYPE else None


def _integration_choices() -> list[tuple[str, str]]:
    return [(str(i.id), i.name) for i in _integrations()]


# -- data fields ----------------------------------------------------------------------------
@bp.get("/data-fields")
def data_fields_index():
    state = FIELDS_GRID.state_from(request.args)
    query = select(DataField).join(Integration, Integration.id == DataField.integration_id) \
        .where(Integration.type == TYPE)
    page = FIELDS_GRID.page(query, state)
    return render("dotdigital/data_fields.html", "grid", grid=FIELDS_GRID, page=page)


def _field_form_page(form, status=200, block="content"):
    return render("dotdigital/data_field_form.html", block, status=status, form=form)


@bp.get("/data-fields/new")
@permission_required("edit")
def data_fields_new():
    form = DataFieldForm()
    form.integration.choices = _integration_choices()
    return _field_form_page(form)


@bp.post("/data-fields/new")
@permission_required("edit")
def data_fields_create():
    form = DataFieldForm()
    form.integration.choices = _integration_choices()
    if form.validate_on_submit():
        integration = _integration(form.integration.data)
        if integration is None:
            form.integration.errors.append("Choose a dotdigital integration.")
        else:
            try:
                data_fields.validate_default(form.type.data, form.default_value.data or "")
                field = data_fields.create_data_field(
                    client_for(integration), integration, form.name.data, form.type.data,
                    form.visibility.data, form.default_value.data or "", form.notes.data or "")
            except data_fields.FieldError as exc:
                target = form.default_value if "Default value" in str(exc) else form.name
                target.errors.append(str(exc))
            else:
                flash(f"Data field {field.name} created in dotdigital.", "success")
                return redirect_htmx(url_for("dotdigital.data_fields_view", field_id=field.id))
    return _field_form_page(form, status=422, block="form")


def _field(field_id: int) -> DataField:
    field = db.session.get(DataField, field_id) or abort(404)
    if field.integration.type != TYPE:
        abort(404)
    return field


@bp.get("/data-fields/<int:field_id>")
def data_fields_view(field_id: int):
    return render("dotdigital/data_field_view.html", "content", field=_field(field_id))


@bp.post("/data-fields/<int:field_id>/notes")
@permission_required("edit")
def data_fields_notes(field_id: int):
    field = _field(field_id)
    notes = (request.form.get("notes") or "").strip()
    if len(notes) > 2000:
        flash("Notes are limited to 2000 characters.", "error")
    else:
        field.notes = notes
        db.session.commit()
        flash(f"Notes of {field.name} saved.", "success")
    return redirect_htmx(url_for("dotdigital.data_fields_view", field_id=field.id))


@bp.post("/data-fields/<int:field_id>/delete")
@permission_required("edit")
def data_fields_delete(field_id: int):
    field = _field(field_id)
    name = field.name
    try:
        data_fields.delete_data_field(client_for(field.integration), field)
    except data_fields.FieldError as exc:
        flash(str(exc), "error")
        return redirect_htmx(url_for("dotdigital.data_fields_view", field_id=field_id))
    flash(f"Data field {name} deleted.", "success")
    return redirect_htmx(url_for("dotdigital.data_fields_index"))


@bp.post("/data-fields/synchronize")
@permission_required("sync")
def data_fields_sync():
    integrations = _integrations(enabled_only=True)
    for integration in integrations:
        start_integration_sync(integration, current_user.id, force_fields=True, lists=False)
    if integrations:
        flash("Data fields scheduled to synchronize with dotdigital", "success")
    else:
        flash("There is no active dotdigital integration.", "error")
    return redirect_htmx(url_for("dotdigital.data_fields_index"))


# -- mappings -------------------------------------------------------------------------------
@bp.get("/mappings")
def mappings_index():
    state = MAPPINGS_GRID.state_from(request.args)
    query = select(FieldMapping).join(Integration, Integration.id == FieldMapping.integration_id) \
        .where(Integration.type == TYPE)
    page = MAPPINGS_GRID.page(query, state)
    return render("dotdigital/mappings.html", "grid", grid=MAPPINGS_GRID, page=page,
                  record_types=records.RECORD_TYPES)


def _mapping_form(mapping: FieldMapping | None = None) -> MappingForm:
    form = MappingForm(data={"integration": str(mapping.integration_id),
                             "entity": mapping.entity,
                             "sync_priority": mapping.sync_priority} if mapping else None)
    form.integration.choices = _integration_choices()
    form.entity.choices = [(rt.name, rt.label) for rt in records.RECORD_TYPES.values()]
    # A change of integration or entity reloads the form (query arguments win).
    for name in ("integration", "entity"):
        if request.method == "GET" and request.args.get(name):
            getattr(form, name).data = request.args[name]
    if not form.integration.data and form.integration.choices:
        form.integration.data = form.integration.choices[0][0]
    if not form.entity.data and form.entity.choices:
        form.entity.data = form.entity.choices[0][0]
    return form


def _posted_rows() -> list[tuple[list[str], int, bool]]:
    rows = []
    indexes = sorted({int(k.split("-")[1]) for k in request.form
                      if k.startswith("row-") and k.split("-")[1].isdigit()})
    for index in indexes:
        keys = [k for k in request.form.getlist(f"row-{index}-fields") if k]
        field_raw = request.form.get(f"row-{index}-field", "")
        if not keys and not field_raw:
            continue  # a blank row
        rows.append((keys, int(field_raw) if field_raw.isdigit() else 0,
                     request.form.get(f"row-{index}-two_way") in ("on", "1", "true")))
    return rows


def _mapping_page(form, mapping=None, rows=None, errors=None, status=200, block="content"):
    integration = _integration(form.integration.data)
    record_type = records.RECORD_TYPES.get(form.entity.data)
    field_rows = db.session.scalars(select(DataField).where(
        DataField.integration_id == (integration.id if integration else 0))
        .order_by(DataField.name)).all()
    if rows is None:
        rows = [(r.field_keys, r.data_field_id, r.two_way) for r in mapping.rows] \
            if mapping else []
    rows = list(rows) + [([], 0, False)] * MAPPING_ROWS_BLANK
    return render("dotdigital/mapping_form.html", block, status=status, form=form,
                  mapping=mapping, rows=rows, errors=errors or [], data_fields=field_rows,
                  entity_fields=[f for f in record_type.fields.values()] if record_type else [])


@bp.get("/mappings/new")
@permission_required("edit")
def mappings_new():
    return _mapping_page(_mapping_form())


@bp.post("/mappings/new")
@permission_required("edit")
def mappings_create():
    return _save_mapping(None)


def _mapping(mapping_id: int) -> FieldMapping:
    mapping = db.session.get(FieldMapping, mapping_id) or abort(404)
    if mapping.integration.type != TYPE:
        abort(404)
    return mapping


@bp.get("/mappings/<int:mapping_id>")
@permission_required("edit")
def mappings_edit(mapping_id: int):
    mapping = _mapping(mapping_id)
    return _mapping_page(_mapping_form(mapping), mapping)


@bp.post("/mappings/<int:mapping_id>")
@permission_required("edit")
def mappings_update(mapping_id: int):
    return _save_mapping(_mapping(mapping_id))


def _save_mapping(mapping: FieldMapping | None):
    form = _mapping_form()
    rows = _posted_rows()
    errors = []
    if form.validate_on_submit():
        integration = _integration(form.integration.data)
        if integration is None:
            errors.append("Choose a dotdigital integration.")
        else:
            try:
                saved = data_fields.save_mapping(integration.id, form.entity.data,
                                                 form.sync_priority.data or 0, rows, mapping)
            except data_fields.FieldError as exc:
                db.session.rollback()
                errors.append(str(exc))
            else:
                flash("Data field mapping saved.", "success")
                return redirect_htmx(url_for("dotdigital.mappings_edit", mapping_id=saved.id))
    return _mapping_page(form, mapping, rows, errors, status=422, block="form")


@bp.post("/mappings/<int:mapping_id>/delete")
@permission_required("edit")
def mappings_delete(mapping_id: int):
    data_fields.delete_mapping(_mapping(mapping_id))
    flash("Data field mapping deleted.", "success")
    return redirect_htmx(url_for("dotdigital.mappings_index"))


# -- the marketing-list panel ---------------------------------------------------------------
def _list(list_id: int) -> MarketingList:
    return db.session.get(MarketingList, list_id) or abort(404)


def panel_context(mlist: MarketingList) -> dict | None:
    connection = connections.for_list(mlist.id, TYPE)
    integrations = _integrations(enabled_only=True)
    if connection is None and not integrations:
        return None
    run = None
    recent = []
    if connection is not None:
        recent = list(db.session.scalars(select(JobRun).where(
            JobRun.kind == LIST_SYNC, JobRun.target == list_target(connection.id))
            .order_by(JobRun.id.desc()).limit(5)))
        run = next((r for r in recent if r.is_active), None)
    return {"connection": connection, "dd_run": run, "dd_runs": recent}


list_panels.register(list_panels.ListPanel("dotdigital", "dotdigital/_list_panel.html",
                                           panel_context))


def _panel(mlist: MarketingList, status: int = 200, **extra):
    if request.method == "POST" and not wants_fragment() and status < 400:
        return redirect_htmx(url_for("lists.lists_view", list_id=mlist.id))
    context = panel_context(mlist) or {"connection": None, "dd_run": None, "dd_runs": []}
    return render("dotdigital/_list_panel.html", "panel", status=status, mlist=mlist,
                  **context, **extra)


@bp.get("/lists/<int:list_id>/panel")
def list_panel(list_id: int):
    return _panel(_list(list_id))


def _connect_form(mlist: MarketingList, connection: ListConnection | None,
                  form: ConnectForm | None = None) -> ConnectForm:
    if form is None:
        data = None
        if connection is not None:
            data = {"integration": str(connection.integration_id),
                    "address_book": connection.remote_id,
                    "create_entities": connection.create_entities}
        form = ConnectForm(data=data)
    form.integration.choices = [("", "Choose dotdigital integration")] + [
        (str(i.id), i.name) for i in _integrations(enabled_only=True)]
    chosen = request.values.get("integration") or form.integration.data
    if not chosen and len(form.integration.choices) == 2:
        chosen = form.integration.choices[1][0]
    form.integration.data = chosen
    integration = _integration(chosen)
    available = books.available_books(integration.id, connection.id if connection else None) \
        if integration else []
    form.address_book.choices = [("", "Choose an address book")] + [
        (b.remote_id, b.name) for b in available]
    return form


def _dialog(mlist, connection, form=None, book_form=None, status=200, in_panel=False):
    form = _connect_form(mlist, connection, form)
    if book_form is None:
        book_form = AddressBookForm(data={"integration": form.integration.data})
    book_form.integration.choices = _integration_choices()
    if in_panel:
        # A refused Connect re-renders the panel (its target) with the dialog open.
        return _panel(mlist, status=status, form=form, book_form=book_form, preview=None)
    return render("dotdigital/_connect.html", "dialog", status=status, mlist=mlist,
                  connection=connection, form=form, book_form=book_form, preview=None)


@bp.get("/lists/<int:list_id>/connect")
@permission_required("edit")
def list_connect_form(list_id: int):
    mlist = _list(list_id)
    return _dialog(mlist, connections.for_list(mlist.id, TYPE))


@bp.post("/lists/<int:list_id>/connect")
@permission_required("edit")
def list_connect(list_id: int):
    mlist = _list(list_id)
    connection = connections.for_list(mlist.id, TYPE)
    form = ConnectForm()
    _connect_form(mlist, connection, form)
    if form.validate_on_submit():
        integration = _integration(form.integration.data)
        if integration is None or not integration.enabled:
            form.integration.errors.append("Choose dotdigital integration")
        else:
            try:
                connection = connections.connect(mlist, integration, form.address_book.data,
                                                 form.create_entities.data, connection)
            except integration_service.IntegrationError as exc:
                db.session.rollback()
                form.address_book.errors.append(str(exc))
            else:
                start_list_sync(connection, current_user.id)
                flash("Marketing List connected; it is being exported to dotdigital.",
                      "success")
                return _panel(mlist)
    return _dialog(mlist, connection, form, status=422, in_panel=True)


@bp.post("/lists/<int:list_id>/address-books")
@permission_required("edit")
def list_create_book(list_id: int):
    mlist = _list(list_id)
    connection = connections.for_list(mlist.id, TYPE)
    book_form = AddressBookForm()
    book_form.integration.choices = _integration_choices()
    if book_form.validate_on_submit():
        integration = _integration(book_form.integration.data)
        if integration is None:
            book_form.integration.errors.append("Choose dotdigital integration")
        else:
            try:
                book = books.create_address_book(client_for(integration), integration,
                                                 book_form.name.data, book_form.visibility.data)
            except books.BookError as exc:
                book_form.name.errors.append(str(exc))
            else:
                form = ConnectForm(data={"integration": str(integration.id),
                                         "address_book": book.remote_id})
                form = _connect_form(mlist, connection, form)
                form.address_book.data = book.remote_id
                return _dialog(mlist, connection, form)
    return _dialog(mlist, connection, book_form=book_form, status=422)


@bp.get("/lists/<int:list_id>/preview")
@permission_required("edit")
def list_preview(list_id: int):
    """The dry run: what a sync would add, update and remove, without calling dotdigital."""
    mlist = _list(list_id)
    connection = connections.for_list(mlist.id, TYPE)
    integration = connection.integration if connection else _integration(
        request.args.get("integration"))
    if integration is None:
        return render("dotdigital/_preview.html", "preview", preview=None,
                      message="Choose dotdigital integration first.")
    probe = connection or ListConnection(id=0, marketing_list_id=mlist.id,
                                         integration_id=integration.id)
    columns = data_fields.ExportColumns(integration.id, mlist.entity)
    summary = plan.preview(probe, columns.values_for, mlist.entity)
    return render("dotdigital/_preview.html", "preview", preview=summary, message=None)


def _connection(mlist: MarketingList) -> ListConnection:
    return connections.for_list(mlist.id, TYPE) or abort(404)


@bp.post("/lists/<int:list_id>/synchronize")
@permission_required("sync")
def list_synchronize(list_id: int):
    mlist = _list(list_id)
    connection = _connection(mlist)
    if not connection.integration.enabled:
        flash("Marketing List synchronization with dotdigital schedule failed: the "
              "integration is inactive.", "error")
    else:
        start_list_sync(connection, current_user.id)
        flash("Marketing List scheduled to synchronize with dotdigital", "success")
    return _panel(mlist)


@bp.post("/lists/<int:list_id>/refresh-fields")
@permission_required("sync")
def list_refresh_fields(list_id: int):
    mlist = _list(list_id)
    connection = _connection(mlist)
    data_fields.mark_for_export(connection.integration_id, connection_id=connection.id)
    db.session.commit()
    flash("Data Fields will be updated with the next synchronization", "success")
    return _panel(mlist)


@bp.post("/lists/<int:list_id>/disconnect")
@permission_required("edit")
def list_disconnect(list_id: int):
    mlist = _list(list_id)
    connection = _connection(mlist)
    if runner.active_run(LIST_SYNC, list_target(connection.id)):
        flash("A synchronization is running; disconnect when it has finished.", "error")
    else:
        connections.disconnect(connection)
        flash("The list is disconnected from dotdigital.", "success")
    return _panel(mlist)


# Email Studio (single sign-on) and campaign statistics: their own modules, this blueprint.
from blueprints import dotdigital_sso  # noqa: E402,F401
from blueprints import dotdigital_stats  # noqa: E402,F401
