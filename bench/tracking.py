"""Website tracking benchmarks: the collector under gunicorn, the drain, the Events grid.

    python -m bench.tracking [--quick]

Needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379; uses its own database
(``bench_tracking``) and Redis database 9. The collector runs under gunicorn with 2 workers
in the queued mode (dynamic tracking off, the default); the load comes from wrk when
installed (`apt-get install -y wrk`), else from a small threaded Python client.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import create_engine
from sqlalchemy import text

from bench.common import emit
from bench.common import p95
from bench.common import parse_args

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_tracking"
REDIS_URL = "redis://127.0.0.1:6379/9"
IDENTIFIER = "bench-site"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ensure_database() -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname='bench_tracking'"))
        if not exists.scalar():
            conn.execute(text('CREATE DATABASE "bench_tracking"'))
    admin.dispose()


def _app():
    from app import create_app

    # The in-process client logs in through the real form; it sends no CSRF token.
    return create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL, "REDIS_URL": REDIS_URL,
                       "JOBS_IN_PROCESS_MODE": "sync", "WTF_CSRF_ENABLED": False})


def _prepare(app) -> int:
    """Tables, a user and the bench website; returns the website id."""
    from extensions import db
    from models.tracking import TrackingWebsite
    from services import users

    with app.app_context():
        db.create_all()
        if users.find_by_email("bench@example.com") is None:
            users.create_user("bench@example.com", "bench-password", "admin", "Bench")
        site = db.session.query(TrackingWebsite).filter_by(identifier=IDENTIFIER).first()
        if site is None:
            site = TrackingWebsite(identifier=IDENTIFIER, name="Bench", url="https://b.example")
            db.session.add(site)
            db.session.commit()
        return site.id


# -- the collector -----------------------------------------------------------------------

def _serve(port: int):
    env = {**os.environ, "DATABASE_URL": DATABASE_URL.replace("+psycopg", ""),
           "REDIS_URL": REDIS_URL, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "bench.tracking_wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start: " + process.stderr.read().decode()[-2000:])


def _wrk(url: str, seconds: int) -> tuple[float, float, int]:
    """(requests/s, p99 ms, non-2xx count) from wrk."""
    out = subprocess.run(["wrk", "-t", "1", "-c", "8", "-d", f"{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, float(p99.group(1)) * factor, int(errors.group(1)) if errors else 0


def _python_load(url: str, seconds: int) -> tuple[float, float, int]:
    import http.client
    import threading

    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    host, _, rest = url.partition("//")[2].partition("/")
    name, _, port = host.partition(":")

    def worker():
        conn = http.client.HTTPConnection(name, int(port))
        while time.monotonic() < stop:
            started = time.perf_counter()
            conn.request("GET", "/" + rest)
            response = conn.getresponse()
            response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status >= 300:
                errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99)], errors[0]


def _warm_up(url: str) -> None:
    """Until both workers answer: their first request opens the database and Redis."""
    from urllib.request import urlopen

    for _ in range(20):
        with urlopen(url, timeout=60) as response:
            response.read()


def bench_collector(quick: bool) -> None:
    port = _free_port()
    server = _serve(port)
    seconds = 5 if quick else 10
    query = urlencode({"idsite": IDENTIFIER, "rec": "1", "url": "https://b.example/page?x=1",
                       "action_name": "Page", "_id": "0123456789abcdef", "send_image": "0"})
    load = _wrk if shutil.which("wrk") else _python_load
    try:
        _warm_up(f"http://127.0.0.1:{port}/tracking.php?{query}")
        _warm_up(f"http://127.0.0.1:{port}/bench-bare")
        load(f"http://127.0.0.1:{port}/tracking.php?{query}", 2)
        # Alternate the two endpoints and keep the medians: on a shared machine a single
        # run of each mostly measures what else was running at that moment.
        runs, bare_runs = [], []
        for _ in range(1 if quick else 3):
            runs.append(load(f"http://127.0.0.1:{port}/tracking.php?{query}", seconds))
            bare_runs.append(load(f"http://127.0.0.1:{port}/bench-bare", seconds)[0])
        rate = statistics.median(r[0] for r in runs)
        p99 = statistics.median(r[1] for r in runs)
        errors = sum(r[2] for r in runs)
        bare_rate = statistics.median(bare_runs)
    finally:
        server.terminate()
        server.wait(10)
    if errors:
        raise RuntimeError(f"the collector refused {errors} hits")
    emit("collector_hits_per_s", rate, "hits/s", ">= 2000", load=load.__name__.strip("_"))
    emit("collector_p99_ms", p99, "ms", "<= 20")
    emit("collector_vs_bare_ratio", rate / bare_rate, "ratio", ">= 0.6",
         bare_requests_per_s=round(bare_rate, 1))


# -- the drain -------------------------------------------------------------------------

def bench_drain(app, site_id: int, quick: bool) -> None:
    from extensions import db
    from jobs.queue import get_redis
    from services.tracking import ingest

    total = 20_000 if quick else 100_000
    with app.app_context():
        redis = get_redis()
        redis.delete(ingest.STREAM)
        db.session.execute(text("TRUNCATE tracking_drain_cursors"))
        db.session.commit()
        agents = [f"Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
                  for v in range(100, 140)]
        now = time.time()
        pipe = redis.pipeline(transaction=False)
        for n in range(total):
            hit = {"site": site_id, "at": now - (total - n) * 0.01, "name": "visit",
                   "value": 1.0, "user": "guest", "url": f"https://b.example/p/{n % 1000}",
                   "title": "Page", "code": "bench" if n % 3 else None,
                   "visitor": f"{n % 5000:016x}", "ip": "203.0.113.9", "ua": agents[n % 40]}
            pipe.xadd(ingest.STREAM, {"h": json.dumps(hit)})
            if n % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        started = time.perf_counter()
        _read, stored = ingest.drain()
        elapsed = time.perf_counter() - started
    if stored != total:
        raise RuntimeError(f"drained {stored} of {total}")
    emit("drain_hits_per_s", stored / elapsed, "hits/s", ">= 20000", hits=stored)


# -- the Events grid ---------------------------------------------------------------------

def _fill_events(app, site_id: int, target: int) -> int:
    from extensions import db

    with app.app_context():
        have = db.session.execute(text(
            "SELECT count(*) FROM (SELECT 1 FROM tracking_events WHERE website_id = :s "
            "LIMIT :t) x"), {"s": site_id, "t": target}).scalar()
        missing = target - have
        step = 1_000_000
        while missing > 0:
            chunk = min(step, missing)
            # Spread over a year, a few names and codes, like a busy site.
            db.session.execute(text("""
                INSERT INTO tracking_events (website_id, name, value, user_identifier, url,
                                             title, code, logged_at, created_at)
                SELECT :s, (ARRAY['visit','visit','visit','cart item added','checkout'])
                           [1 + (g % 5)], 1, CASE WHEN g % 7 = 0 THEN 'user' || (g % 900)
                           || '@example.com' ELSE 'guest' END,
                       'https://b.example/p/' || (g % 5000) || '?q=caf%C3%A9', 'Page',
                       CASE WHEN g % 4 = 0 THEN 'camp-' || (g % 20) END,
                       now() - (g % 31536000) * interval '1 second', now()
                FROM generate_series(1, :n) AS g
            """), {"s": site_id, "n": chunk})
            db.session.commit()
            missing -= chunk
        db.session.execute(text("ANALYZE tracking_events"))
        db.session.commit()
        # What the grid really runs over (a full run leaves 10M behind for a quick one).
        return int(db.session.execute(text(
            "SELECT reltuples FROM pg_class WHERE relname = 'tracking_events'")).scalar())


def bench_events_grid(app, site_id: int, quick: bool) -> None:
    rows = _fill_events(app, site_id, 1_000_000 if quick else 10_000_000)
    client = app.test_client()
    with app.app_context():
        login = client.post("/login", data={"email": "bench@example.com",
                                            "password": "bench-password"})
        if login.status_code != 303:
            raise RuntimeError("bench login failed")
    base = f"/tracking/websites/{site_id}/events"
    headers = {"HX-Request": "true"}
    # The grid as it opens and as people page and narrow it by date or value; text
    # "contains" filters are reported apart (see the docstring of _grid_samples).
    plain = _grid_samples(client, base, headers, ["", "?f_logged_at_from=2026-01-01",
                                                  "?f_value_from=1", "?dir=asc"], quick)
    text_filters = _grid_samples(client, base, headers, ["?f_code=camp-3", "?f_name=cart",
                                                         "?f_user_identifier=user1"], quick)
    emit("events_grid_p95_ms", p95(plain), "ms", "<= 50", events=rows, requests=len(plain))
    emit("events_grid_text_filter_p95_ms", p95(text_filters), "ms", None, events=rows,
         requests=len(text_filters))


def _grid_samples(client, base: str, headers: dict, queries: list[str], quick: bool):
    """Milliseconds per request over the first pages of each query, following the cursor.

    A case-insensitive "contains" filter cannot use a B-tree index: it scans the site's
    events until it has a page (and the capped count), so it is measured separately.
    """
    samples: list[float] = []
    for _ in range(2 if quick else 5):
        for query in queries:
            url = base + query
            for _page in range(3):
                started = time.perf_counter()
                response = client.get(url, headers=headers)
                samples.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code}")
                match = re.search(r'href="([^"]+)"[^>]*rel="next"', response.get_data(True))
                if not match:
                    break
                url = match.group(1).replace("&amp;", "&")
    return samples


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    _ensure_database()
    app = _app()
    site_id = _prepare(app)
    with app.app_context():
        from jobs.queue import get_redis

        get_redis().flushdb()
    bench_collector(args.quick)
    bench_drain(app, site_id, args.quick)
    bench_events_grid(app, site_id, args.quick)


if __name__ == "__main__":
    main()
