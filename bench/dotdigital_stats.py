"""Dotdigital campaign statistics import and pages, against the local emulator.

    python -m bench.dotdigital_stats [--quick]

Full size: 1,000,000 contact activities (50 campaigns × 20,000 recipients) read over real
HTTP from the emulator and stored (recipients, list items' Last contacted at, send
MarketingActivity rows). Uses DATABASE_URL when set (PostgreSQL; it DROPS and recreates
every table there, so point it at a scratch database), else a throw-away SQLite file.

Figures: dd_activities_import_1m_s (target <= 60) and dd_stats_page_p95_ms (the email
campaign page with its dotdigital Statistics block and Recipients grid, then a filtered
and a later page of the grid; target <= 100), plus dd_reimport_s (a second import, which
must add nothing).
"""

from __future__ import annotations

import os
import tempfile
import time

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from bench.common import emit
from bench.common import p95
from bench.common import parse_args
from bench.dotdigital import _serve

SENT = "2026-03-02T10:00:00Z"


def _seed_emulator(state, contacts: int, campaigns: int) -> None:
    emails = [f"bench{i}@example.com" for i in range(contacts)]
    state.seed({"settings": {"rate_limit_per_hour": 1_000_000},
                "address_books": [{"name": "Bench", "id": 900}],
                "contacts": [{"email": e, "address_books": [900]} for e in emails],
                "campaigns": [{"name": f"Campaign {c}", "id": 5000 + c, "status": "Sent",
                               "dateSent": SENT, "address_books": [900]}
                              for c in range(campaigns)]})
    for c in range(campaigns):
        state.seed({"activities": [
            {"campaign": 5000 + c, "email": e, "dateSent": SENT, "numOpens": (i + c) % 4,
             "numClicks": (i + c) % 3, "softBounced": (i + c) % 97 == 0,
             "hardBounced": (i + c) % 89 == 0, "unsubscribed": (i + c) % 101 == 0}
            for i, e in enumerate(emails)]})


def _make_list(n: int):
    from extensions import db
    from models.base import utcnow
    from models.contacts import Contact
    from models.lists import ListType
    from models.lists import MarketingList
    from models.lists import MarketingListItem

    now = utcnow()
    mlist = MarketingList(name="Bench stats", entity="contact", type=ListType.MANUAL,
                          filter={"op": "and", "items": []},
                          columns=[{"field": "email", "label": "Email", "sort": ""}])
    db.session.add(mlist)
    db.session.commit()
    for start in range(0, n, 10_000):
        db.session.execute(insert(Contact), [
            {"first_name": f"First{i}", "last_name": f"Last{i}",
             "email": f"bench{i}@example.com", "created_at": now, "updated_at": now}
            for i in range(start, min(n, start + 10_000))])
    ids = db.session.scalars(select(Contact.id).order_by(Contact.id)).all()
    db.session.execute(insert(MarketingListItem), [
        {"marketing_list_id": mlist.id, "entity_id": i, "subscribed": True,
         "contacted_times": 0, "created_at": now} for i in ids])
    db.session.commit()
    return mlist


def main() -> None:
    args = parse_args(__doc__)
    contacts, campaigns_n = (2_000, 5) if args.quick else (20_000, 50)
    total = contacts * campaigns_n
    os.environ.setdefault("LISTBRIDGE_ENV", "development")
    from app import create_app
    from emulators import dotdigital as emulator
    from extensions import db

    tmp = tempfile.mkdtemp(prefix="bench-dd-stats-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "JOBS_IN_PROCESS_MODE": "sync", "TESTING": True,
                      "WTF_CSRF_ENABLED": False})
    emu_app = emulator.create_app()
    _seed_emulator(emu_app.extensions["dotdigital"], contacts, campaigns_n)
    server, base = _serve(emu_app)
    with app.app_context():
        db.drop_all()
        db.create_all()
        from integrations.dotdigital import campaigns
        from integrations.dotdigital.sync import client_for
        from integrations.dotdigital.sync import sync_integration
        from models.email_campaigns import EmailCampaign
        from models.integrations import Integration
        from models.marketing_activity import MarketingActivity
        from models.users import Role
        from models.users import User
        from services.integrations import connections
        from services.sync.runs import RunTracker

        dd = Integration(type="dotdigital", name="Bench", api_base_url=base,
                         api_username="demo@apiconnector.com", api_secret="demo-password-1",
                         settings={})
        db.session.add(dd)
        db.session.commit()
        sync_integration(dd)
        mlist = _make_list(contacts)
        connections.connect(mlist, dd, "900")

        def run_import():
            client = client_for(dd)
            client.discover()
            tracker = RunTracker(None, client)
            started = time.perf_counter()
            campaigns.import_all(client, dd, tracker)
            return time.perf_counter() - started, tracker

        elapsed, tracker = run_import()
        stored = db.session.scalar(select(func.count(MarketingActivity.id)))
        label = "dd_activities_import_1m_s" if total == 1_000_000 else \
            f"dd_activities_import_{total}_s"
        emit(label, elapsed, "s", "<= 60", activities=tracker.counts.get("activities_read", 0),
             campaigns=campaigns_n, activity_rows_stored=stored,
             recipients=tracker.counts.get("recipients", 0),
             calls=tracker.client.calls)

        from models.dotdigital import DotdigitalCampaign

        for dc in db.session.scalars(select(DotdigitalCampaign)):
            dc.activity_cursor = dc.events_cursor = None  # the full calls again
        db.session.commit()
        elapsed, _ = run_import()
        added = db.session.scalar(select(func.count(MarketingActivity.id))) - stored
        emit("dd_reimport_s", elapsed, "s", None, activities_added=added)

        user = User(email="bench@example.com", role=Role.VIEWER, active=True)
        user.set_password("bench-password-1")
        db.session.add(user)
        db.session.commit()
        ec_ids = db.session.scalars(select(EmailCampaign.id).order_by(EmailCampaign.id)).all()
        client = app.test_client()
        client.post("/login", data={"email": user.email, "password": "bench-password-1"})
        samples = []
        urls = []
        for ec_id in ec_ids[:10]:
            urls += [f"/email-campaigns/{ec_id}",
                     f"/email-campaigns/{ec_id}/recipients?f_open_count_min=2&sort=-open_count",
                     f"/email-campaigns/{ec_id}/recipients?sort=email"]
        for url in urls * 3:
            started = time.perf_counter()
            response = client.get(url, headers={"HX-Request": "true",
                                                "HX-Target": "recipients-grid"}
                                  if "/recipients" in url else {})
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        emit("dd_stats_page_p95_ms", p95(samples), "ms", "<= 100", requests=len(samples),
             recipients_per_campaign=contacts)
    server.shutdown()


if __name__ == "__main__":
    main()
