"""Production serving: gunicorn with 2 workers, PostgreSQL and Redis, a logged-in page."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
PG_BASE = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pg_database(worker_id):
    url = make_url(PG_BASE)
    name = f"{url.database}_gunicorn_{worker_id}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_gunicorn_serves_a_logged_in_page_on_postgresql_and_redis(pg_database, redis_url,
                                                                 tmp_path):
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, LISTBRIDGE_ENV="production", DATABASE_URL=pg_database,
               REDIS_URL=redis_url, SECRET_KEY="gunicorn-test-secret",
               ENCRYPTION_KEY="hZk0bxrS8lzm6JmmB8UfXz5Eb6yJ3x3H2p3dDq6f2Xo=",
               SESSION_COOKIE_SECURE="false")
    flask = [str(bin_dir / "flask"), "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    subprocess.run([*flask, "users", "create", "ops@example.com", "--role", "admin",
                    "--password", "gunicorn-pass-1"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    port = _free_port()
    gunicorn = shutil.which("gunicorn", path=str(bin_dir))
    server = subprocess.Popen([gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{port}",
                               "app:create_app()"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"database": "ok",
                                                                     "redis": "ok"}
        session = requests.Session()
        login_page = session.get(f"{base}/login", timeout=5).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page)
        token = token or re.search(r'name="csrf_token" value="([^"]+)"', login_page)
        response = session.post(f"{base}/login", data={
            "csrf_token": token.group(1), "email": "ops@example.com",
            "password": "gunicorn-pass-1"}, timeout=5)
        assert response.status_code == 200 and response.url == f"{base}/"
        # Several requests so both workers answer; the session works on each.
        for _ in range(6):
            page = session.get(f"{base}/users/", timeout=5)
            assert page.status_code == 200 and "ops@example.com" in page.text
    finally:
        server.terminate()
        server.wait(10)
