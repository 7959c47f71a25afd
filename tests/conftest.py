"""Fixtures in flaskr's style: app, client, users by role, a clean database per test.

The database is SQLite (a file per xdist worker) unless DATABASE_URL points at
PostgreSQL, in which case each worker gets its own fresh database on that server.
Redis is the real server at 127.0.0.1:6379, one database number per worker.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest
from flask import g
from flask import has_app_context
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from extensions import db
from models.users import Role
from tests import factories

REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _worker_index(worker_id: str) -> int:
    match = re.search(r"(\d+)$", worker_id)
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="session")
def worker_id(request) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, worker_id):
    base = os.environ.get("DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1)
                   if base.startswith("postgresql://") else base)
    # One database per worker and per run, so parallel runs on one server never collide.
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)[:8]
    name = f"{url.database}_{worker_id}_{run_id}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url(worker_id) -> str:
    return f"{REDIS_BASE}/{10 + _worker_index(worker_id)}"


@pytest.fixture(scope="session")
def _schema(database_url, tmp_path_factory):
    """Create the tables once per worker; tests then only empty them."""
    app = create_app(_test_config(database_url, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()
    return True


def _test_config(database_url: str, instance_path) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": None,
        "JOBS_IN_PROCESS_MODE": "sync",
        "SECRET_KEY": "test-secret",
        "ENCRYPTION_KEYS": ["hZk0bxrS8lzm6JmmB8UfXz5Eb6yJ3x3H2p3dDq6f2Xo="],
        # Cheap hashing keeps the suite fast; production uses werkzeug's default scrypt.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "SERVER_NAME": None,
    }


def _empty_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


class CSRFClient(FlaskClient):
    """A test client that sends a valid CSRF token with every change, like app.js does.

    Pass ``csrf=False`` to send a change without one.
    """

    def open(self, *args, csrf: bool = True, **kwargs):
        # The test's app context is reused by every request; in production each request
        # has its own, so start each one with an empty ``g`` (no cached user or settings).
        if has_app_context():
            g.__dict__.clear()
        method = kwargs.get("method", "GET").upper()
        if csrf and method not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", os.urandom(20).hex())
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)


@pytest.fixture
def app(_schema, database_url, tmp_path):
    app = create_app(_test_config(database_url, tmp_path))
    app.test_client_class = CSRFClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.session.remove()


@pytest.fixture
def client(app) -> CSRFClient:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Auth:
    """Log the test client in through the real login form."""

    def __init__(self, client: CSRFClient):
        self.client = client

    def login(self, email: str, password: str = factories.PASSWORD):
        return self.client.post("/login", data={"email": email, "password": password})

    def login_as(self, role: Role | str = Role.ADMIN, **kwargs):
        user = factories.user(role=Role(role), **kwargs)
        response = self.login(user.email)
        assert response.status_code == 303, response.get_data(as_text=True)
        return user

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


@pytest.fixture
def redis_app(app, redis_url):
    """The app with jobs going to the real Redis (an empty database number per worker)."""
    from jobs import queue

    app.config["REDIS_URL"] = redis_url
    queue.init_app(app)
    redis = queue.get_redis(app)
    redis.flushdb()
    yield app
    redis.flushdb()
    app.config["REDIS_URL"] = None
    queue.init_app(app)
