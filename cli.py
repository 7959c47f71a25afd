"""Operator commands: `flask users ...`, `flask demo ...`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from models.users import Role
from services import users as user_service

users_cli = AppGroup("users", help="Manage back-office users.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.VIEWER.value)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default="")
def users_create(email: str, role: str, password: str, name: str) -> None:
    """Create a user."""
    try:
        user = user_service.create_user(email, password, role, name)
    except user_service.UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.email} ({user.role.value})")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
    from demo import demo_cli

    app.cli.add_command(demo_cli)
