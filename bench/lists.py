"""Marketing-list benchmarks: materialisation, the Items grid, CSV import, re-evaluation.

    python -m bench.lists [--quick]

Uses DATABASE_URL when set (PostgreSQL; the database is emptied), else a throw-away SQLite
file. Full size is 1,000,000 contacts and a 1,000,000-row CSV; --quick uses 50,000.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time

from sqlalchemy import select
from sqlalchemy import text

from bench.common import emit
from bench.common import p95
from bench.common import parse_args

MATCH_ALL = {"op": "and", "items": [
    {"field": "email", "op": "ends_with", "value": "@example.com"}]}


def _generate_contacts(db, n: int) -> None:
    """n contacts in one INSERT … SELECT (generate_series, or a recursive CTE on SQLite)."""
    columns = ("first_name, last_name, email, company, country, city, created_at, updated_at")
    values = ("'First' || i, 'Last' || i, 'user' || i || '@example.com', "
              "CASE i % 5 WHEN 0 THEN 'Acme' WHEN 1 THEN 'Globex' WHEN 2 THEN 'Initech' "
              "WHEN 3 THEN NULL ELSE 'Umbrella' END, "
              "CASE i % 3 WHEN 0 THEN 'France' WHEN 1 THEN 'Spain' ELSE 'Germany' END, "
              "'City' || (i % 100), CURRENT_TIMESTAMP, CURRENT_TIMESTAMP")
    if db.engine.dialect.name == "postgresql":
        sql = (f"INSERT INTO contacts ({columns}) SELECT {values} "
               f"FROM generate_series(1, {n}) AS i")
    else:
        sql = (f"WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq "
               f"WHERE i < {n}) INSERT INTO contacts ({columns}) SELECT {values} FROM seq")
    db.session.execute(text(sql))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE contacts"))
        db.session.commit()


def _bench_import(app, n: int) -> None:
    from extensions import db
    from services import records_import

    tmp = tempfile.mkdtemp(prefix="bench-import-")
    path = os.path.join(tmp, "people.csv")
    with open(path, "w", encoding="utf-8") as out:
        out.write("Email,First name,Last name,Company,Country\n")
        for i in range(n):
            out.write(f"imp{i}@import.test,Ann{i},Lee{i},Company {i % 50},France\n")
    with open(path, "rb") as source:
        meta = records_import.save_upload(source, "contact", "people.csv")
    db.session.remove()
    db.engine.dispose()
    result = multiprocessing.get_context("fork").Queue()

    def child():
        with app.app_context():
            import jobs

            started = time.perf_counter()
            run = jobs.enqueue("records_import", f"import:{meta['id']}", {
                "import_id": meta["id"], "entity": "contact", "dedupe": "update",
                "mapping": {"0": "email", "1": "first_name", "2": "last_name",
                            "3": "company", "4": "country"}})
            elapsed = time.perf_counter() - started
            db.session.refresh(run)
            result.put((elapsed, run.status.value, run.error, dict(run.counts)))

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    elapsed, status, error, counts = result.get()
    process.join()
    if status != "succeeded" or counts.get("imported") != n:
        raise SystemExit(f"import failed: {status} {error} {counts}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    emit("csv_import_rows_per_s", n / elapsed, "rows/s", ">= 20000", rows=n,
         seconds=round(elapsed, 2))
    emit("csv_import_peak_mb", peak_mb, "MB", "flat (independent of rows)",
         parent_before_fork_mb=round(before / 1024, 1))


def _bench_materialise(db, n: int):
    from models.base import utcnow
    from models.lists import ListType
    from models.lists import MarketingList
    from services.marketing_lists import membership

    columns = [{"field": "first_name", "label": "First", "sort": ""},
               {"field": "email", "label": "Email", "sort": ""}]
    ours = MarketingList(name="Bench dynamic", entity="contact", type=ListType.DYNAMIC,
                         filter=MATCH_ALL, columns=columns)
    raw = MarketingList(name="Bench raw", entity="contact", type=ListType.MANUAL,
                        filter=MATCH_ALL, columns=columns)
    db.session.add_all([ours, raw])
    db.session.commit()
    db.session.execute(text("SELECT count(*) FROM contacts WHERE lower(email) LIKE '%x%'"))
    started = time.perf_counter()
    db.session.execute(text(
        "INSERT INTO marketing_list_items (marketing_list_id, entity_id, subscribed, "
        "contacted_times, created_at) SELECT :list_id, id, true, 0, :now FROM contacts "
        "WHERE lower(email) LIKE '%@example.com'"), {"list_id": raw.id, "now": utcnow()})
    db.session.commit()
    raw_s = time.perf_counter() - started
    started = time.perf_counter()
    counts = membership.materialise(ours.id)
    ours_s = time.perf_counter() - started
    assert counts["added"] == n, counts
    emit("list_materialize_1m_s" if n == 1_000_000 else f"list_materialize_{n}_s", ours_s, "s",
         "<= 10", members=n)
    emit("list_materialize_vs_raw_sql", ours_s / raw_s, "ratio", "<= 2.0",
         raw_s=round(raw_s, 3))
    started = time.perf_counter()
    again = membership.materialise(ours.id)
    emit("list_rematerialize_nochange_s", time.perf_counter() - started, "s", None,
         changes=again)
    return ours


def _grid_pages(app, mlist, n: int) -> None:
    from models.users import Role
    from services import users as user_service
    from services.grid import _encode

    user_service.create_user("bench@example.com", "bench-password", Role.ADMIN)
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/login", data={"email": "bench@example.com",
                                       "password": "bench-password"}).status_code == 303
    url = f"/marketing-lists/{mlist.id}"
    cursors = {"first": None, "middle": _encode(n // 2, n // 2),
               "last": _encode(n - 20, n - 20)}
    samples = []
    for name, cursor in cursors.items():
        query = {"after": cursor} if cursor else {}
        for attempt in range(12):
            started = time.perf_counter()
            # What the grid's pager sends: the grid alone is rendered.
            response = client.get(url, query_string=query,
                                  headers={"HX-Request": "true", "HX-Target": "items-grid"})
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.status_code
            if attempt:
                samples.append(elapsed)
        assert b"user" in response.data, name
    emit("items_grid_p95_ms", p95(samples), "ms", "<= 50", members=n,
         pages="first, middle, last")
    full = []
    for _ in range(5):
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        full.append((time.perf_counter() - started) * 1000)
    emit("list_view_page_median_ms", sorted(full)[2], "ms", None, members=n,
         note="whole page: both grids, member counts")


def _bench_reevaluate(db) -> None:
    from models.contacts import Contact
    from models.lists import ListType
    from models.lists import MarketingList
    from services.marketing_lists import membership

    filters = [
        {"field": "company", "op": "eq", "value": "Acme"},
        {"field": "country", "op": "in", "value": ["France", "Spain"]},
        {"field": "email", "op": "contains", "value": "user1"},
        {"field": "created_at", "op": "after", "value": "2020-01-01"},
        {"field": "city", "op": "starts_with", "value": "City1"},
    ]
    for i in range(100):
        tree = {"op": "or" if i % 2 else "and", "items": [
            filters[i % 5], {"op": "or", "items": [filters[(i + 1) % 5],
                                                    filters[(i + 2) % 5]]}]}
        db.session.add(MarketingList(name=f"Reeval {i}", entity="contact",
                                     type=ListType.DYNAMIC, filter=tree,
                                     columns=[{"field": "email", "label": "Email",
                                               "sort": ""}]))
    db.session.commit()
    contact = db.session.scalar(select(Contact).order_by(Contact.id).offset(1000).limit(1))
    samples = []
    for attempt in range(22):
        contact.company = "Acme" if attempt % 2 else "Globex"
        db.session.commit()
        started = time.perf_counter()
        membership.reevaluate_records("contact", [contact.id])
        elapsed = (time.perf_counter() - started) * 1000
        if attempt > 1:
            samples.append(elapsed)
    emit("list_reeval_one_record_ms", p95(samples), "ms", "<= 50", lists=100)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = 50_000 if args.quick else 1_000_000
    from app import create_app
    from extensions import db

    tmp = tempfile.mkdtemp(prefix="bench-lists-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "JOBS_IN_PROCESS_MODE": "sync", "IMPORT_DIR": f"{tmp}/imports",
                      "PASSWORD_HASH_METHOD": "scrypt:1024:8:1", "SECRET_KEY": "bench"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        _bench_import(app, n)
        db.session.execute(text("DELETE FROM contacts"))
        db.session.commit()
        _generate_contacts(db, n)
        mlist = _bench_materialise(db, n)
        _grid_pages(app, mlist, n)
        _bench_reevaluate(db)
        db.session.remove()
        db.drop_all()


if __name__ == "__main__":
    main()
