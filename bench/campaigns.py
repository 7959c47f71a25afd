"""Email campaign benchmarks: SMTP sending rate, and the statistics page of a big campaign.

    python -m bench.campaigns [--quick]

Sends to 50,000 recipients (--quick: 3,000) through a local aiosmtpd server running in its
own process, with the real send job (per-recipient "sending" marks committed before each
SMTP call). Then times the email campaign page (statistics block and Recipients grid:
first page, a filtered page, a deep page, a sorted page). Uses DATABASE_URL when set
(PostgreSQL; its tables are dropped and recreated), else a throw-away SQLite file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

from sqlalchemy import text

from bench.common import emit
from bench.common import p95
from bench.common import parse_args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smtp_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l",
                               f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("aiosmtpd did not start")


def _members(db, n: int) -> int:
    """n contacts and a marketing list holding them all, by INSERT … SELECT."""
    from models.lists import ListType
    from models.lists import MarketingList

    if db.engine.dialect.name == "postgresql":
        source = f"generate_series(1, {n}) AS i"
    else:
        source = f"(WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq " \
                 f"WHERE i < {n}) SELECT i FROM seq)"
    db.session.execute(text(
        "INSERT INTO contacts (first_name, last_name, email, created_at, updated_at) "
        f"SELECT 'First' || i, 'Last' || i, 'user' || i || '@bench.test', CURRENT_TIMESTAMP, "
        f"CURRENT_TIMESTAMP FROM {source}"))
    mlist = MarketingList(name="Bench list", entity="contact", type=ListType.MANUAL, columns=[
        {"field": "first_name", "label": "First name", "sort": ""},
        {"field": "email", "label": "Email", "sort": ""}])
    db.session.add(mlist)
    db.session.flush()
    db.session.execute(text(
        "INSERT INTO marketing_list_items (marketing_list_id, entity_id, subscribed, "
        "contacted_times, created_at) SELECT :list, id, true, 0, CURRENT_TIMESTAMP "
        "FROM contacts"), {"list": mlist.id})
    db.session.commit()
    return mlist.id


def _bench_send(app, db, list_id: int, n: int, port: int) -> int:
    from jobs.runner import execute
    from models.email_campaigns import EmailCampaign
    from models.email_campaigns import EmailTemplate
    from models.jobs import JobRun
    from models.jobs import JobStatus
    from services import settings
    from services.email_campaigns import service

    settings.save({"smtp.host": "127.0.0.1", "smtp.port": port, "smtp.batch_size": 500,
                   "general.public_url": "https://bench.listbridge.test"})
    template = EmailTemplate(name="Bench", subject="Hello {{ first_name }}",
                             html_body='<p>Hi {{ first_name }}, <a href="https://example.com/'
                                       'a">one</a> and <a href="https://example.com/b">two</a>'
                                       '</p>', text_body="Hi {{ first_name }}")
    db.session.add(template)
    db.session.flush()
    campaign = EmailCampaign(name="Bench campaign", marketing_list_id=list_id,
                             template_id=template.id)
    db.session.add(campaign)
    db.session.commit()
    run = JobRun(kind=service.SEND_JOB, target=service.target_of(campaign.id),
                 params={"email_campaign_id": campaign.id})
    db.session.add(run)
    db.session.commit()
    started, cpu = time.perf_counter(), time.process_time()
    execute(run.id)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    if run.status is not JobStatus.SUCCEEDED or run.counts.get("sent") != n:
        raise RuntimeError(f"send failed: {run.status} {run.error} {run.counts}")
    emit("smtp_send_msgs_per_s", n / elapsed, "msgs/s", ">= 500", recipients=n,
         seconds=round(elapsed, 2), sender_cpu_ms_per_msg=round(cpu * 1000 / n, 3),
         load_average=round(os.getloadavg()[0], 2), database=db.engine.dialect.name)
    return campaign.id


def _bench_stats(app, db, campaign_id: int) -> None:
    from models.users import Role
    from services import users

    # Counters spread like a real campaign: a third opened, a tenth clicked.
    db.session.execute(text(
        "UPDATE email_campaign_recipients SET open_count = CASE WHEN id % 3 = 0 THEN 1 "
        "ELSE 0 END, click_count = CASE WHEN id % 10 = 0 THEN 1 ELSE 0 END "
        "WHERE email_campaign_id = :c"), {"c": campaign_id})
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE email_campaign_recipients"))
        db.session.commit()
    users.create_user("bench@listbridge.test", "bench-password", Role.VIEWER)
    client = app.test_client()
    response = client.post("/login", data={"email": "bench@listbridge.test",
                                           "password": "bench-password"})
    assert response.status_code == 303, response.status_code
    base = f"/email-campaigns/{campaign_id}"
    deep = f"{base}/recipients?sort=email&dir=asc&size=25"
    # Walk forty pages in to get a deep keyset cursor.
    for _ in range(40):
        html = client.get(deep, headers={"HX-Request": "true"}).get_data(as_text=True)
        marker = html.find('rel="next"')
        start = html.rfind('href="', 0, marker) + 6
        deep = html[start:html.find('"', start)].replace("&amp;", "&")
    urls = [base, f"{base}/recipients?f_open_count_from=1", deep,
            f"{base}/recipients?sort=email&dir=desc", f"{base}/statistics"]
    samples = []
    for attempt in range(12):
        for url in urls:
            started = time.perf_counter()
            response = client.get(url, headers={"HX-Request": "true"} if "/r" in url else {})
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (url, response.status_code)
            if attempt:
                samples.append(elapsed)
    emit("campaign_stats_p95_ms", p95(samples), "ms", "<= 100", requests=len(samples),
         database=db.engine.dialect.name)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n = 3_000 if args.quick else 50_000
    from app import create_app
    from extensions import db

    tmp = tempfile.mkdtemp(prefix="bench-campaigns-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None,
                      "JOBS_IN_PROCESS_MODE": "sync", "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False,
                      "PASSWORD_HASH_METHOD": "scrypt:1024:8:1"})
    port = _free_port()
    server = _smtp_server(port)
    try:
        with app.app_context():
            db.drop_all()
            db.create_all()
            list_id = _members(db, n)
            campaign_id = _bench_send(app, db, list_id, n, port)
            _bench_stats(app, db, campaign_id)
            db.session.remove()
            db.drop_all()
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
