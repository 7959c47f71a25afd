"""Pages of a record type (contacts, leads): grid, CSV export, CRUD, CSV import.

``make_blueprint`` builds the same pages for any registered type; endpoints are named
``<plural>_<action>`` (``contacts.contacts_index``) as web/menu.py expects.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import request
from flask import send_file
from flask import stream_with_context
from flask import url_for
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

import jobs
from extensions import db
from forms.records import ImportMappingForm
from forms.records import ImportUploadForm
from forms.records import record_form
from models.jobs import JobRun
from models.lists import MarketingList
from models.lists import MarketingListItem
from services import records
from services import records_crud
from services import records_import
from services.grid import Column
from services.grid import Grid
from web.htmx import redirect_htmx
from web.htmx import render
from web.security import permission_required

_FILTER_KIND = {"string": "text", "email": "text", "phone": "text", "choice": "choice",
                "date": "date", "datetime": "date", "number": "number", "bool": "bool"}
EXPORT_BATCH = 1000


def sort_safe(field: records.FieldDef):
    """The field's expression with NULL text as "": keyset paging needs NULL-free sorts."""
    if field.type in ("string", "email", "phone", "choice"):
        return func.coalesce(field.column, "")
    return field.column


def grid_for(record_type: records.RecordType, keys: tuple[str, ...]) -> Grid:
    columns = []
    for key in keys:
        field = record_type.fields[key]
        columns.append(Column(key, field.label, sort_safe(field),
                              filter=_FILTER_KIND[field.type], choices=field.choices))
    return Grid(record_type.name, columns, record_type.model.id, default_sort=keys[-1],
                default_direction="desc")


def grid_select(record_type: records.RecordType, grid: Grid):
    model = record_type.model
    return select(model.id.label("id"), *[c.expr.label(c.key) for c in grid.columns.values()])


def make_blueprint(entity: str, grid_keys: tuple[str, ...]) -> Blueprint:
    record_type = records.get(entity)
    name = record_type.blueprint
    bp = Blueprint(name, __name__, url_prefix=f"/{name}")
    grid = grid_for(record_type, grid_keys)
    form_class = record_form(record_type)
    template_ctx = {"rt": record_type, "ep": name}

    def endpoint(action: str) -> str:
        return f"{name}.{name}_{action}"

    def load(record_id: int):
        return records_crud.find(record_type, record_id) or abort(404)

    def index():
        state = grid.state_from(request.args)
        page = grid.page(grid_select(record_type, grid), state)
        block = "grid" if request.headers.get("HX-Target") == "records-grid" else "content"
        return render("records/index.html", block, grid=grid, page=page, **template_ctx)

    def export():
        state = grid.state_from(request.args)
        fields = list(record_type.fields.values())
        model = record_type.model
        base = grid.filtered(select(model.id.label("id"),
                                    *[f.column.label(f.key) for f in fields]), state)

        def rows():
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["id", *[f.key for f in fields]])
            last = 0
            while True:
                batch = db.session.execute(base.where(model.id > last).order_by(model.id)
                                           .limit(EXPORT_BATCH)).all()
                for row in batch:
                    writer.writerow([_csv_value(v) for v in row])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if len(batch) < EXPORT_BATCH:
                    return
                last = batch[-1].id

        response = Response(stream_with_context(rows()), mimetype="text/csv")
        response.headers["Content-Disposition"] = f"attachment; filename={name}.csv"
        return response

    def _form_page(form, row=None, status=200):
        form.owner_id.choices = [("", "—"), *records_crud.owners()]
        block = "form" if status != 200 else "content"  # a GET is a page
        return render("records/form.html", block, status=status, form=form, row=row,
                      **template_ctx)

    def new():
        form = form_class(owner_id=current_user.id)
        return _form_page(form)

    def _save(form, row=None):
        form.owner_id.choices = [("", "—"), *records_crud.owners()]
        if form.validate_on_submit():
            data = {f.key: form[f.key].data for f in record_type.editable_fields}
            try:
                if row is None:
                    row = records_crud.create(record_type, data, form.owner_id.data,
                                              current_user.id)
                else:
                    records_crud.update(record_type, row, data, form.owner_id.data,
                                        current_user.id)
            except records_crud.RecordError as exc:
                for key, message in exc.errors.items():
                    form[key].errors = [*form[key].errors, message]
            else:
                flash(f"{record_type.label} saved.", "success")
                return redirect_htmx(url_for(endpoint("view"), record_id=row.id))
        return _form_page(form, row, status=422)

    @permission_required("edit")
    def create():
        return _save(form_class())

    def view(record_id: int):
        row = load(record_id)
        lists = db.session.execute(
            select(MarketingList.id, MarketingList.name, MarketingListItem.subscribed)
            .join(MarketingListItem, MarketingListItem.marketing_list_id == MarketingList.id)
            .where(MarketingList.entity == entity, MarketingListItem.entity_id == row.id)
            .order_by(MarketingList.name)).all()
        values = db.session.execute(select(*[f.column.label(f.key) for f in
                                             record_type.fields.values()])
                                    .where(record_type.model.id == row.id)).one()
        return render("records/view.html", row=row, values=values._mapping, lists=lists,
                      **template_ctx)

    def edit(record_id: int):
        row = load(record_id)
        return _form_page(form_class(obj=row), row)

    @permission_required("edit")
    def update(record_id: int):
        row = load(record_id)
        return _save(form_class(), row)

    @permission_required("edit")
    def delete(record_id: int):
        row = load(record_id)
        records_crud.delete(record_type, row)
        flash(f"{record_type.label} deleted.", "success")
        return redirect_htmx(url_for(endpoint("index")))

    def import_form():
        return render("records/import.html", "content", form=ImportUploadForm(), error=None,
                      **template_ctx)

    @permission_required("edit")
    def upload():
        request.max_content_length = records_import.max_bytes() + 64 * 1024
        error = None
        try:
            form = ImportUploadForm()
            upload = request.files.get("file")
        except RequestEntityTooLarge:
            form = ImportUploadForm(formdata=None)
            upload = None
            error = (f"The file is larger than "
                     f"{records_import.max_bytes() // (1024 * 1024)} MB.")
        if error is None and not form.validate_on_submit():
            error = "The form expired; reload the page and try again."
        if error is None and (upload is None or not upload.filename):
            error = "Choose a CSV file to upload."
        if error is None:
            try:
                meta = records_import.save_upload(upload.stream, entity, upload.filename)
            except records_import.ImportFileError as exc:
                error = str(exc)
            else:
                return redirect_htmx(url_for(endpoint("import_mapping"), import_id=meta["id"]))
        return render("records/import.html", "upload", status=422, form=form, error=error,
                      **template_ctx)

    def _meta(import_id: str) -> dict:
        try:
            meta = records_import.load_meta(import_id)
        except records_import.ImportFileError:
            abort(404)
        if meta["entity"] != entity:
            abort(404)
        return meta

    def import_mapping(import_id: str):
        meta = _meta(import_id)
        mapping = records_import.suggest_mapping(record_type, meta["headers"])
        return render("records/import_mapping.html", "content", meta=meta, mapping=mapping,
                      form=ImportMappingForm(), error=None, **template_ctx)

    @permission_required("edit")
    def import_start(import_id: str):
        meta = _meta(import_id)
        form = ImportMappingForm()
        mapping = {str(i): request.form.get(f"map_{i}", "")
                   for i in range(len(meta["headers"]))}
        error = None
        if not form.validate_on_submit():
            error = "Choose what to do with duplicates."
        else:
            try:
                mapping = records_import.validate_mapping(record_type, meta["headers"], mapping)
            except records_import.ImportFileError as exc:
                error = str(exc)
        if error:
            return render("records/import_mapping.html", "mapping", status=422, meta=meta,
                          mapping=mapping, form=form, error=error, **template_ctx)
        run = jobs.enqueue("records_import", f"import:{import_id}", {
            "import_id": import_id, "entity": entity, "mapping": mapping,
            "dedupe": form.dedupe.data, "owner_id": current_user.id}, current_user.id)
        return redirect_htmx(url_for(endpoint("import_status"), import_id=import_id,
                                     run=run.id))

    def import_status(import_id: str):
        meta = _meta(import_id)
        run = db.session.scalar(select(JobRun).where(
            JobRun.kind == "records_import", JobRun.target == f"import:{import_id}")
            .order_by(JobRun.id.desc()))
        if run is None:
            abort(404)
        has_errors = records_import.error_file(import_id) is not None
        return render("records/import_status.html", meta=meta, run=run,
                      has_errors=has_errors, **template_ctx)

    def import_errors(import_id: str):
        _meta(import_id)
        path = records_import.error_file(import_id)
        if path is None:
            abort(404)
        return send_file(path, mimetype="text/csv", as_attachment=True,
                         download_name=f"{name}-import-errors.csv")

    routes = [
        ("/", "index", index, ["GET"]),
        ("/export.csv", "export", export, ["GET"]),
        ("/new", "new", new, ["GET"]),
        ("/new", "create", create, ["POST"]),
        ("/<int:record_id>", "view", view, ["GET"]),
        ("/<int:record_id>/edit", "edit", edit, ["GET"]),
        ("/<int:record_id>/edit", "update", update, ["POST"]),
        ("/<int:record_id>/delete", "delete", delete, ["POST"]),
        ("/import", "import", import_form, ["GET"]),
        ("/import", "upload", upload, ["POST"]),
        ("/import/<import_id>", "import_mapping", import_mapping, ["GET"]),
        ("/import/<import_id>", "import_start", import_start, ["POST"]),
        ("/import/<import_id>/status", "import_status", import_status, ["GET"]),
        ("/import/<import_id>/errors.csv", "import_errors", import_errors, ["GET"]),
    ]
    for rule, action, view_func, methods in routes:
        bp.add_url_rule(rule, f"{name}_{action}", view_func, methods=methods)
    return bp


def _csv_value(value):
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(getattr(value, "value", value))
    # A leading =, +, - or @ would run as a formula in spreadsheet apps (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
