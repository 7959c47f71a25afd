"""Health check, error pages, htmx fragments and migrations."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from extensions import db
from models.users import Role


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"database": "ok", "redis": "disabled"}


def test_healthz_with_redis(redis_app, client):
    assert client.get("/healthz").json["redis"] == "ok"


def test_healthz_is_503_when_the_database_is_down(tmp_path):
    from app import create_app
    from tests.conftest import _test_config

    down = create_app(_test_config(f"sqlite:///{tmp_path}/missing/dir/x.db", tmp_path))
    response = down.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"].startswith("error")


def test_404_renders_inside_the_layout(client, auth):
    auth.login_as(Role.VIEWER)
    response = client.get("/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'id="main"' in html and "does not exist" in html


def test_404_for_htmx_is_a_fragment_aimed_at_main(client, auth):
    auth.login_as(Role.VIEWER)
    response = client.get("/no-such-page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert "<html" not in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#main"


def test_500_shows_no_stack_trace(app, client, auth):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    auth.login_as(Role.VIEWER)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internals" not in html and "Traceback" not in html
    assert "Something went wrong" in html


def test_boosted_navigation_gets_the_whole_page(client, auth):
    auth.login_as(Role.VIEWER)
    html = client.get("/", headers={"HX-Request": "true", "HX-Boosted": "true"}).get_data(
        as_text=True)
    assert "<html" in html


def test_fragment_request_gets_only_the_content_block(client, auth):
    auth.login_as(Role.VIEWER)
    response = client.get("/", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Latest job runs" in html
    assert "HX-Request" in response.headers["Vary"]


def test_migrations_build_the_same_schema_as_the_models(app, tmp_path):
    """`flask db upgrade` on an empty database matches the models exactly."""
    from flask_migrate import upgrade

    from app import create_app
    from tests.conftest import _test_config

    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:
        url = _fresh_pg_database(db.engine.url, "migrations_check")
    try:
        migrated = create_app(_test_config(url, tmp_path))
        with migrated.app_context():
            upgrade()
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
            db.engine.dispose()
    finally:
        if postgresql:  # one per run otherwise, left on the server for good
            _drop_pg_database(db.engine.url, "migrations_check")
    assert diff == []


def _pg_admin(url, suffix: str, *statements: str) -> str:
    from sqlalchemy import text

    name = f"{url.database}_{suffix}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(text(statement.format(name=name)))
    admin.dispose()
    return name


def _fresh_pg_database(url, suffix: str) -> str:
    name = _pg_admin(url, suffix, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                     'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url, suffix: str) -> None:
    _pg_admin(url, suffix, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_request_aimed_at_main_gets_the_page_content(app, client, auth):
    """HX-Location into #main must not receive a smaller block of the page."""
    from forms.auth import LoginForm
    from web.htmx import render

    @app.get("/_partial")
    def partial():
        return render("auth/login.html", "login_form", form=LoginForm())

    auth.login_as(Role.VIEWER)
    inner = client.get("/_partial", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<h1>Log in</h1>" not in inner and 'id="login-form"' in inner
    whole = client.get("/_partial", headers={"HX-Request": "true", "HX-Target": "main"})
    html = whole.get_data(as_text=True)
    assert "<html" not in html
    assert "<h1>Log in</h1>" in html and 'id="login-form"' in html
