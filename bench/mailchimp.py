"""Mailchimp segment-export benchmark against the local emulator (real HTTP, real database).

    python -m bench.mailchimp [--quick]

The emulator runs in its own process (as Mailchimp would be elsewhere), so its work does
not share this process's interpreter lock. Uses DATABASE_URL when set (PostgreSQL; it DROPS
and recreates every table there, so point it at a scratch database), else a throw-away
SQLite file. Figures: mc_first_export_100k_s (a whole list sync: member import, then the
export), mc_member_calls and mc_segment_calls for that export, mc_nochange_write_calls,
and mc_faults_converged (10% injected 5xx and 429: the segment equals the sending set).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

import requests
from sqlalchemy import insert
from sqlalchemy import select

from bench.common import emit
from bench.common import parse_args

EMULATOR = ("from werkzeug.serving import run_simple; from emulators.mailchimp import create_app;"
            " run_simple('127.0.0.1', {port}, create_app(), threaded=True)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_emulator():
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", EMULATOR.format(port=port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{base}/_emulator/mailchimp/info", timeout=1)
            return process, base
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the Mailchimp emulator did not start")


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
    for start in range(0, n, 10_000):
        db.session.execute(insert(Contact), [
            {"first_name": f"First{i}", "last_name": f"Last{i}",
             "email": f"{prefix}{i}@example.com", "created_at": now, "updated_at": now}
            for i in range(start, min(n, start + 10_000))])
    ids = db.session.scalars(select(Contact.id).where(Contact.email.like(f"{prefix}%"))
                             .order_by(Contact.id)).all()
    db.session.execute(insert(MarketingListItem), [
        {"marketing_list_id": mlist.id, "entity_id": i, "subscribed": True,
         "contacted_times": 0, "created_at": now} for i in ids])
    db.session.commit()
    return mlist


def _calls(base: str) -> list[dict]:
    return requests.get(f"{base}/_emulator/calls", timeout=60).json()


def _control(base: str, path: str, data: dict) -> None:
    requests.post(f"{base}/_emulator/{path}", json=data, timeout=10).raise_for_status()


def _segment_emails(client, audience: str, segment: str) -> set[str]:
    return set(client.segment_emails(audience, segment))


def main() -> None:
    args = parse_args(__doc__)
    size = 5_000 if args.quick else 100_000
    fault_size = 1_000 if args.quick else 10_000
    os.environ.setdefault("LISTBRIDGE_ENV", "development")
    from app import create_app
    from emulators.mailchimp_data import DEFAULT_API_KEY
    from emulators.mailchimp_data import DEFAULT_LIST_ID
    from extensions import db
    from integrations.http import ApiError
    from integrations.mailchimp import audiences
    from integrations.mailchimp.integration import client_for
    from integrations.mailchimp.integration import sync_integration
    from integrations.mailchimp.sync import ListSync
    from integrations.mailchimp.sync import SyncError
    from models.integrations import Integration
    from services.marketing_lists import sending

    process, base = _start_emulator()
    tmp = tempfile.TemporaryDirectory()
    url = os.environ.get("DATABASE_URL", f"sqlite:///{tmp.name}/bench.db")
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "JOBS_IN_PROCESS_MODE": "sync", "HTTP_TIMEOUT": 60})
    try:
        with app.app_context():
            db.drop_all()
            db.create_all()
            mc = Integration(type="mailchimp", name="Bench", api_base_url=f"{base}/{{dc}}",
                             api_secret=DEFAULT_API_KEY, settings={})
            db.session.add(mc)
            db.session.commit()
            sync_integration(mc)
            mlist = _make_list(size, "bench")
            connection = audiences.connect(client_for(mc), mlist, mc, DEFAULT_LIST_ID,
                                           "Bench segment")
            mark = len(_calls(base))
            started = time.perf_counter()
            ListSync(connection, client_for(mc)).run()
            elapsed = time.perf_counter() - started
            calls = _calls(base)[mark:]
            member_calls = sum(1 for c in calls if c["method"] == "POST"
                               and c["path"].endswith(f"/lists/{DEFAULT_LIST_ID}"))
            segment_calls = sum(1 for c in calls if "/segments" in c["path"])
            label = "mc_first_export_100k_s" if size == 100_000 else f"mc_first_export_{size}_s"
            emit(label, elapsed, "s", "<= 30", rows=size)
            emit("mc_member_calls", member_calls, "calls", "<= 200", rows=size)
            emit("mc_segment_calls", segment_calls, "calls", "<= 200", rows=size)

            mark = len(_calls(base))
            started = time.perf_counter()
            ListSync(connection, client_for(mc)).run()
            nochange_s = time.perf_counter() - started
            writes = sum(1 for c in _calls(base)[mark:] if c["method"] != "GET")
            emit("mc_nochange_write_calls", writes, "calls", "= 0", seconds=round(nochange_s, 2))

            # 10% of calls fail (5% 503, 5% 429); runs repeat until one succeeds.
            faulty = _make_list(fault_size, "fault")
            fault_conn = audiences.connect(client_for(mc), faulty, mc, DEFAULT_LIST_ID,
                                           "Faults segment")
            _control(base, "faults", {"error_rate": 0.05, "error_status": 503,
                                      "throttle_rate": 0.05, "retry_after": 0, "seed": 3})
            runs = 0
            for runs in range(1, 6):  # noqa: B007 - reported below
                try:
                    ListSync(fault_conn, client_for(mc, backoff_base=0.05)).run()
                    break
                except (ApiError, SyncError):
                    db.session.rollback()
            _control(base, "faults", {})
            client = client_for(mc)
            remote = _segment_emails(client, DEFAULT_LIST_ID, audiences.split(fault_conn)[1])
            wanted = {r.email.lower() for batch in sending.iter_sending_set(faulty.id, 5000)
                      for r in batch}
            emit("mc_faults_converged", int(remote == wanted), "bool", "= 1", rows=fault_size,
                 runs=runs)
    finally:
        process.terminate()
        process.wait(timeout=10)
        tmp.cleanup()


if __name__ == "__main__":
    main()
