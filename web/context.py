"""Values every template sees: the menu, the app mode, the current time."""

from __future__ import annotations

from flask import Flask
from flask_login import current_user

from jobs.queue import get_redis
from web.menu import build_menu


def format_datetime(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(format_datetime, "datetime")

    @app.context_processor
    def layout_context():
        return {
            "menu": build_menu() if current_user.is_authenticated else [],
            "jobs_mode": "rq" if get_redis() is not None else "in-process",
        }
