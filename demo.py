"""`flask demo setup`: the demo admin and a small data set for `make run`.

Areas append seeders to SEEDERS; each must be idempotent, since `make run` calls
setup on every start.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click
from flask.cli import AppGroup

from models.users import Role
from services import users as user_service

demo_cli = AppGroup("demo", help="Demo data for local runs.")

DEMO_EMAIL = "admin@listbridge.demo"
DEMO_PASSWORD_ENV = "LISTBRIDGE_DEMO_PASSWORD"  # noqa: S105 - a variable name

SEEDERS: list[Callable[[], str | None]] = []


def seeder(func: Callable[[], str | None]) -> Callable[[], str | None]:
    SEEDERS.append(func)
    return func


@demo_cli.command("setup")
@click.option("--url", default="http://127.0.0.1:5000", help="Where the app will be served.")
def demo_setup(url: str) -> None:
    """Create the demo admin (once) and seed demo data."""
    password = os.environ.get(DEMO_PASSWORD_ENV, "listbridge-demo")
    user = user_service.find_by_email(DEMO_EMAIL)
    if user is None:
        user_service.create_user(DEMO_EMAIL, password, Role.ADMIN, "Demo Admin")
    for seed in SEEDERS:
        message = seed()
        if message:
            click.echo(f"demo: {message}")
    click.echo("")
    click.echo(f"  Listbridge is starting at {url}")
    click.echo(f"  Log in as {DEMO_EMAIL} with password {password}")
    if user is not None:
        click.echo("  (the demo admin already existed; its password was not changed)")
    click.echo("")


import integrations.dotdigital.demo  # noqa: E402 - registers the Dotdigital seeder
import integrations.mailchimp.demo  # noqa: E402,F401 - registers the Mailchimp seeder
import services.email_campaigns.demo  # noqa: E402 - registers the campaigns seeder
import services.marketing_lists.demo  # noqa: E402 - registers the lists seeder
import services.tracking.demo  # noqa: E402,F401 - registers the tracking seeder
