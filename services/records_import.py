"""CSV import of contacts and leads: upload checks, column mapping, the import itself.

The upload is streamed to ``instance/imports/`` and checked while it is written (UTF-8,
a header row, a size cap), so a wrong file is refused before anything is imported. The
job then streams the file in batches; each batch's rows and the run's progress commit
together, so a crash or a retry resumes after the last committed batch and converges to
the same data. Rows that fail validation go to an error file with the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import uuid
from pathlib import Path

from flask import current_app
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from extensions import db
from models.base import utcnow
from services import records
from services.records_crud import RecordError
from services.records_crud import clean

MAX_IMPORT_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 100
MAX_HEADER_LENGTH = 100
BATCH_ROWS = 2000
MAX_ERROR_ROWS = 100_000  # the rest are counted, not written
DEDUPE_CHOICES = (("update", "Update the existing record"), ("skip", "Skip the row"))
_CHUNK = 1024 * 1024

csv.field_size_limit(64 * 1024)


class ImportFileError(ValueError):
    """The file cannot be imported; the message says why, for the user."""


def import_dir() -> Path:
    configured = current_app.config.get("IMPORT_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _paths(import_id: str) -> tuple[Path, Path, Path]:
    if not import_id or not all(c in "0123456789abcdef" for c in import_id):
        raise ImportFileError("Unknown import.")
    base = import_dir()
    return (base / f"{import_id}.csv", base / f"{import_id}.json",
            base / f"{import_id}-errors.csv")


def max_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES", MAX_IMPORT_BYTES))


def save_upload(stream, entity: str, filename: str = "") -> dict:
    """Store an uploaded file after checking it; returns its metadata.

    Raises ImportFileError for an empty, oversized, non-UTF-8 or header-less file.
    """
    records.get(entity)
    import_id = uuid.uuid4().hex
    path, meta_path, _ = _paths(import_id)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    size = lines = 0
    head = ""
    try:
        with open(path, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes():
                    raise ImportFileError(
                        f"The file is larger than {max_bytes() // (1024 * 1024)} MB.")
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise ImportFileError(
                        "The file is not UTF-8 text (invalid byte at position "
                        f"{size - len(chunk) + exc.start}). Save it as “CSV UTF-8” and upload "
                        "it again.") from None
                if len(head) < 256 * 1024:
                    head += text[:256 * 1024]
                lines += chunk.count(b"\n")
                out.write(chunk)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise ImportFileError("The file is not UTF-8 text (it ends inside a "
                                      "character).") from None
        if size == 0:
            raise ImportFileError("The file is empty.")
        headers = _header(head)
    except ImportFileError:
        path.unlink(missing_ok=True)
        raise
    meta = {"id": import_id, "entity": entity, "filename": filename[:200], "bytes": size,
            "rows": max(lines - 1, 1) if lines else 1, "headers": headers,
            "sample": _sample(head)}
    meta_path.write_text(json.dumps(meta))
    return meta


def _header(head: str) -> list[str]:
    first_line = head.split("\n", 1)[0]
    if "\n" not in head and len(head) >= 256 * 1024:
        raise ImportFileError("The file has no header row (its first line is too long).")
    try:
        header = next(csv.reader(io.StringIO(first_line)), [])
    except csv.Error:
        raise ImportFileError("The file has no readable header row.") from None
    header = [h.strip() for h in header]
    if not header or not any(header):
        raise ImportFileError("The file has no header row: the first line must name the "
                              "columns.")
    if len(header) > MAX_COLUMNS:
        raise ImportFileError(f"The file has more than {MAX_COLUMNS} columns.")
    if any(len(h) > MAX_HEADER_LENGTH for h in header):
        raise ImportFileError("The first line does not look like a header row (a column "
                              f"name is longer than {MAX_HEADER_LENGTH} characters).")
    if any(h and header.count(h) > 1 for h in header):
        raise ImportFileError("The header row names a column twice.")
    return header


def _sample(head: str, rows: int = 3) -> list[list[str]]:
    reader = csv.reader(io.StringIO(head))
    try:
        next(reader, None)
        return [row for _, row in zip(range(rows), reader, strict=False)]
    except csv.Error:
        return []


def load_meta(import_id: str) -> dict:
    _, meta_path, _ = _paths(import_id)
    if not meta_path.exists():
        raise ImportFileError("This import does not exist or has expired.")
    return json.loads(meta_path.read_text())


def error_file(import_id: str) -> Path | None:
    _, _, errors = _paths(import_id)
    return errors if errors.exists() else None


def suggest_mapping(record_type: records.RecordType, headers: list[str]) -> dict[str, str]:
    """Column index → field key, for headers that name a field by key or label."""
    names = {}
    for f in record_type.editable_fields:
        names[_loose(f.key)] = f.key
        names[_loose(f.label)] = f.key
    mapping = {}
    for index, header in enumerate(headers):
        key = names.get(_loose(header))
        if key and key not in mapping.values():
            mapping[str(index)] = key
    return mapping


def _loose(name: str) -> str:
    """"E-mail", "email" and "EMAIL " name the same column."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def validate_mapping(record_type: records.RecordType, headers: list[str],
                     mapping: dict) -> dict[str, str]:
    """The mapping without blanks; raises ImportFileError with every problem."""
    clean_map, problems = {}, []
    for index, key in mapping.items():
        if not key:
            continue
        if not str(index).isdigit() or int(index) >= len(headers):
            problems.append("The mapping names a column the file does not have.")
            continue
        field = record_type.fields.get(key)
        if field is None or not field.editable:
            problems.append(f"“{key}” is not a field of {record_type.plural.lower()}.")
            continue
        if key in clean_map.values():
            problems.append(f"{field.label} is mapped to two columns.")
            continue
        clean_map[str(index)] = key
    for field in record_type.fields.values():
        if field.required and field.key not in clean_map.values():
            problems.append(f"Map a column to {field.label}: it is required.")
    if not clean_map and not problems:
        problems.append("Map at least one column.")
    if problems:
        raise ImportFileError(" ".join(dict.fromkeys(problems)))
    return clean_map


def run_import(run, import_id: str, entity: str, mapping: dict, dedupe: str,
               owner_id: int | None) -> None:
    from jobs.runner import report
    from services.marketing_lists import membership

    record_type = records.get(entity)
    path, _, errors_path = _paths(import_id)
    meta = load_meta(import_id)
    mapping = validate_mapping(record_type, meta["headers"], mapping)
    if dedupe not in dict(DEDUPE_CHOICES):
        raise ImportFileError("Choose what to do with duplicates.")
    if not path.exists():
        raise ImportFileError("The uploaded file is gone; upload it again.")
    done = run.progress or 0  # rows committed by an earlier attempt
    counts = {"imported": 0, "updated": 0, "skipped": 0, "errors": 0, **(run.counts or {})}
    counts["errors"] = 0  # the error file is rewritten from the first row on every attempt
    report(run, phase="importing", total=meta["rows"], counts=counts)
    if db.engine.dialect.name == "sqlite":
        # The email index outgrows SQLite's 2 MB default page cache within a large file.
        db.session.execute(text("PRAGMA cache_size = -65536"))
    columns = [(int(i), key) for i, key in mapping.items()]
    width = len(meta["headers"])
    batch: list[tuple[int, dict]] = []
    errors_written = 0
    analyzed: dict[str, int] = {}
    tmp_errors = errors_path.with_suffix(".tmp")
    with open(path, newline="", encoding="utf-8-sig") as source, \
            open(tmp_errors, "w", newline="", encoding="utf-8") as errors_out:
        errors_writer = csv.writer(errors_out)
        errors_writer.writerow(["row", *meta["headers"], "error"])
        reader = csv.reader(source)
        _skip_header(reader)
        line = 1
        while True:
            line += 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                counts["errors"] += 1
                if errors_written < MAX_ERROR_ROWS:
                    errors_writer.writerow([line, *([""] * width), f"Unreadable line: {exc}"])
                    errors_written += 1
                continue
            if not any(cell.strip() for cell in row):
                continue
            try:
                if len(row) > width:
                    raise RecordError({"": f"{len(row)} cells, the header has {width}."})
                values = clean(record_type, {key: row[i] if i < len(row) else ""
                                             for i, key in columns})
                missing = [f.label for f in record_type.fields.values()
                           if f.required and values.get(f.key) is None]
                if missing:
                    raise RecordError({"": f"{', '.join(missing)} is required."})
            except RecordError as exc:
                counts["errors"] += 1
                if errors_written < MAX_ERROR_ROWS:
                    errors_writer.writerow([line, *row[:width], *([""] * (width - len(row))),
                                            " ".join(exc.errors.values())])
                    errors_written += 1
                continue
            batch.append((line, values))
            if len(batch) >= BATCH_ROWS:
                done = _commit_batch(run, record_type, batch, dedupe, owner_id, done, counts,
                                     report, analyzed)
                batch = []
        if batch:
            done = _commit_batch(run, record_type, batch, dedupe, owner_id, done, counts, report,
                                 analyzed)
    os.replace(tmp_errors, errors_path)
    report(run, phase="updating dynamic lists", progress=done, total=done, counts=counts)
    for list_id in _dynamic_lists(entity):
        membership.materialise(list_id)
    path.unlink(missing_ok=True)
    report(run, phase="done", counts=counts)


def _skip_header(reader) -> None:
    try:
        next(reader, None)
    except csv.Error:
        raise ImportFileError("The header row cannot be read.") from None


def _commit_batch(run, record_type, batch, dedupe, owner_id, done, counts, report,
                  analyzed: dict) -> int:
    """Write one batch and the progress in one transaction; returns the new progress."""
    fresh = [(line, values) for line, values in batch if line > done]
    if not fresh:
        return done  # committed by an earlier attempt
    _write(record_type, [v for _, v in fresh], dedupe, owner_id, counts)
    report(run, progress=fresh[-1][0], counts=counts)
    _analyze_as_it_grows(record_type, counts, analyzed)
    return fresh[-1][0]


def _analyze_as_it_grows(record_type, counts: dict, analyzed: dict) -> None:
    """Refresh PostgreSQL's statistics when the import has doubled the rows it wrote.

    An import into a small table would otherwise be planned as one: the duplicate lookup
    turns into a sequential scan per batch, and the import slows quadratically.
    """
    if db.engine.dialect.name != "postgresql":
        return
    written = counts["imported"] + counts["updated"] + counts["skipped"]
    mark = analyzed.get("rows", 0)
    if written >= max(2 * mark, BATCH_ROWS):
        db.session.execute(text(f'ANALYZE "{record_type.model.__table__.name}"'))
        db.session.commit()
        analyzed["rows"] = written


def _write(record_type, rows: list[dict], dedupe: str, owner_id, counts: dict) -> None:
    model = record_type.model
    email_key = record_type.email_field
    email_col = getattr(model, email_key)
    emails = {r[email_key] for r in rows if r.get(email_key)}
    existing: dict[str, int] = {}
    if emails:
        for email, record_id in db.session.execute(
                select(email_col, func.min(model.id)).where(email_col.in_(emails))
                .group_by(email_col)):
            existing[email] = record_id
    now = utcnow()
    inserts: dict[str, dict] = {}
    anonymous: list[dict] = []
    updates: dict[int, dict] = {}
    for values in rows:
        email = values.get(email_key)
        if email and email in existing:
            if dedupe == "skip":
                counts["skipped"] += 1
                continue
            target = updates.setdefault(existing[email], {"id": existing[email]})
            target.update({k: v for k, v in values.items() if v is not None})
            counts["updated"] += 1
        elif email and email in inserts:
            # The same email twice in the file: the first row wins or is updated by later.
            if dedupe == "skip":
                counts["skipped"] += 1
                continue
            inserts[email].update({k: v for k, v in values.items() if v is not None})
            counts["updated"] += 1
        else:
            row = {**values, "owner_id": owner_id, "created_at": now, "updated_at": now}
            if email:
                inserts[email] = row
            else:
                anonymous.append(row)
            counts["imported"] += 1
    new_rows = list(inserts.values()) + anonymous
    if new_rows:
        keys = sorted(set().union(*(r.keys() for r in new_rows)))
        if db.engine.dialect.name == "postgresql":
            _copy(model.__table__.name, keys, new_rows)
        elif db.engine.dialect.name == "sqlite":
            _executemany(model.__table__, keys, new_rows)
        else:
            db.session.execute(insert(model), [{k: r.get(k) for k in keys} for r in new_rows])
    by_shape: dict[frozenset, list[dict]] = {}
    for values in updates.values():
        values["updated_at"] = now
        by_shape.setdefault(frozenset(values), []).append(values)
    for group in by_shape.values():
        db.session.execute(update(model), group)


def _copy(table: str, keys: list[str], rows: list[dict]) -> None:
    """COPY the new rows in, inside the session's transaction (PostgreSQL's bulk path)."""
    cursor = db.session.connection().connection.driver_connection.cursor()
    columns = ", ".join(f'"{key}"' for key in keys)  # keys are registry field names
    with cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row.get(k) for k in keys])


def _executemany(table, keys: list[str], rows: list[dict]) -> None:
    """One driver-level executemany (SQLite): SQLAlchemy's per-row parameter building
    costs more than the insert itself at a million rows."""
    dialect = db.engine.dialect
    processors = [table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys]
    params = []
    for row in rows:
        values = []
        for key, processor in zip(keys, processors, strict=True):
            value = row.get(key)
            values.append(processor(value) if processor and value is not None else value)
        params.append(tuple(values))
    columns = ", ".join(f'"{k}"' for k in keys)
    marks = ", ".join("?" for _ in keys)
    db.session.connection().exec_driver_sql(
        f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})',  # noqa: S608 - model and registry names
        params)


def _dynamic_lists(entity: str) -> list[int]:
    from models.lists import ListType
    from models.lists import MarketingList

    return list(db.session.scalars(select(MarketingList.id).where(
        MarketingList.entity == entity, MarketingList.type == ListType.DYNAMIC)))
