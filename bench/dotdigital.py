"""Dotdigital export benchmark against the local emulator (real HTTP, real database).

    python -m bench.dotdigital [--quick]

Uses DATABASE_URL when set (PostgreSQL; it DROPS and recreates every table there, so
point it at a scratch database), else a throw-away SQLite file. Figures:
dd_first_export_100k_s, dd_first_export_import_calls (+ status polls), dd_nochange_write_calls,
dd_nochange_s, dd_1pct_s and dd_faults_converged. The timed figures are the export phase
(list → book); the import phase (book → list) is reported beside them.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from datetime import timedelta

import requests
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from bench.common import emit
from bench.common import parse_args


def _serve(app):
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def _make_list(n: int, prefix: str):
    from extensions import db
    from models.base import utcnow
    from models.contacts import Contact
    from models.lists import ListType
    from models.lists import MarketingList
    from models.lists import MarketingListItem

    # Records that existed before the list was synced, as in real use: records changed
    # within the plan's clock-skew margin of a run are re-checked by the next one.
    now = utcnow() - timedelta(hours=1)
    mlist = MarketingList(name=f"Bench {prefix}", entity="contact", type=ListType.MANUAL,
                          filter={"op": "and", "items": []}, columns=[])
    db.session.add(mlist)
    db.session.commit()
    first = None
    for start in range(0, n, 10_000):
        rows = [{"first_name": f"First{i}", "last_name": f"Last{i}",
                 "email": f"{prefix}{i}@example.com", "created_at": now, "updated_at": now}
                for i in range(start, min(n, start + 10_000))]
        db.session.execute(insert(Contact), rows)
    ids = db.session.scalars(select(Contact.id).where(Contact.email.like(f"{prefix}%"))
                             .order_by(Contact.id)).all()
    first = ids[0]
    db.session.execute(insert(MarketingListItem), [
        {"marketing_list_id": mlist.id, "entity_id": i, "subscribed": True,
         "contacted_times": 0, "created_at": now} for i in ids])
    db.session.commit()
    return mlist, first


def _calls(base: str) -> list[dict]:
    return requests.get(f"{base}/_emulator/calls", timeout=30).json()


def _faults(base: str, **settings) -> None:
    requests.post(f"{base}/_emulator/faults", json=settings, timeout=5).raise_for_status()


def main() -> None:
    args = parse_args(__doc__)
    size = 5_000 if args.quick else 100_000
    fault_size = 1_000 if args.quick else 10_000
    os.environ.setdefault("LISTBRIDGE_ENV", "development")
    from app import create_app
    from emulators import dotdigital as emulator
    from extensions import db

    tmp = tempfile.mkdtemp(prefix="bench-dd-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "JOBS_IN_PROCESS_MODE": "sync", "TESTING": True,
                      "DOTDIGITAL_POLL_BUDGET": 300})
    emu_app = emulator.create_app()
    server, base = _serve(emu_app)
    requests.post(f"{base}/_emulator/dotdigital/seed", timeout=5, json={
        "settings": {"rate_limit_per_hour": 100_000},
        "address_books": [{"name": "Bench"}, {"name": "Faults"}]}).raise_for_status()
    with app.app_context():
        db.drop_all()
        db.create_all()
        from integrations.dotdigital.sync import ListSync
        from integrations.dotdigital.sync import client_for
        from integrations.dotdigital.sync import sync_integration
        from models.contacts import Contact
        from models.integrations import Integration
        from models.integrations import ListConnection
        from models.integrations import SyncStatus
        from services.integrations import connections
        from services.marketing_lists import sending

        dd = Integration(type="dotdigital", name="Bench", api_base_url=base,
                         api_username="demo@apiconnector.com", api_secret="demo-password-1",
                         settings={})
        db.session.add(dd)
        db.session.commit()
        sync_integration(dd)
        books = {b["name"]: str(b["id"]) for b in client_for(dd).address_books()}
        mlist, first_id = _make_list(size, "bench")
        connection = connections.connect(mlist, dd, books["Bench"])

        from models.base import utcnow

        def sync(conn, export_only=False):
            conn = db.session.get(ListConnection, conn.id)
            runner = ListSync(conn, client_for(dd))
            runner.client.discover()
            started = time.perf_counter()
            if export_only:
                runner.export(utcnow())
                runner._roll_up()
            else:
                runner.run()
            return time.perf_counter() - started, runner

        _faults(base)
        elapsed, _ = sync(connection)
        calls = _calls(base)
        imports = sum(1 for c in calls if c["method"] == "POST"
                      and c["path"].endswith("/contacts/import"))
        polls = sum(1 for c in calls if c["method"] == "GET"
                    and c["path"].startswith("/v2/contacts/import/"))
        label = "dd_first_export_100k_s" if size == 100_000 else f"dd_first_export_{size}_s"
        emit(label, elapsed, "s", "<= 30", rows=size)
        emit("dd_first_export_import_calls", imports, "calls",
             f"== {math.ceil(size / 10_000)} (+ status polls)", status_polls=polls)

        # The second run's import phase reads the book back (remote ids); time it apart.
        _faults(base)
        elapsed, _ = sync(connection)
        emit("dd_second_run_full_s", elapsed, "s", None,
             note="import (book read back, remote ids learnt) + export")
        before = len(_calls(base))
        elapsed, _ = sync(connection, export_only=True)
        writes = [c for c in _calls(base)[before:] if c["method"] != "GET"]
        emit("dd_nochange_write_calls", len(writes), "calls", "== 0")
        emit("dd_nochange_s", elapsed, "s", "<= 2")

        changed = max(1, size // 100)
        db.session.execute(update(Contact).where(
            Contact.id >= first_id, Contact.id < first_id + changed).values(
            first_name=Contact.first_name + "x", updated_at=utcnow()))
        db.session.commit()
        _faults(base)
        elapsed, runner = sync(connection, export_only=True)
        emit("dd_1pct_s", elapsed, "s", "<= 5", changed=changed,
             exported=runner.tracker.counts.get("exported_rows", 0))

        # Faults: 10% of calls fail (5xx, 429, timeouts); runs repeat until converged.
        app.config["HTTP_TIMEOUT"] = 1.0
        flist, _ = _make_list(fault_size, "fault")
        fconn = connections.connect(flist, dd, books["Faults"])
        _faults(base, error_rate=0.04, error_status=503, throttle_rate=0.03, retry_after=0,
                delay=1.5, delay_rate=0.03, seed=11)
        started = time.perf_counter()
        runs = 0
        for _ in range(6):
            runs += 1
            try:
                sync(fconn)
            except Exception:  # noqa: BLE001 - a failed run is retried by the next one
                db.session.rollback()
            if db.session.get(ListConnection, fconn.id).sync_status is SyncStatus.UP_TO_DATE:
                break
        _faults(base)
        state = requests.get(f"{base}/_emulator/dotdigital/state", timeout=60).json()
        members = next(set(b["members"]) for b in state["address_books"]
                       if b["name"] == "Faults")
        expected = {r.email for batch in sending.iter_sending_set(flist.id, 5000)
                    for r in batch}
        emails = [c["email"] for c in state["contacts"]]
        converged = members == expected and len(emails) == len(set(emails))
        emit("dd_faults_converged", 1 if converged else 0, "bool", "== 1", runs=runs,
             rows=fault_size, seconds=round(time.perf_counter() - started, 2))
    server.shutdown()


if __name__ == "__main__":
    main()
