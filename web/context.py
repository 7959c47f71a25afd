"""Values every template sees: the menu, the app mode, the current time."""

from __future__ import annotations

from flask import Flask
from flask_login import current_user

from jobs.queue import get_redis
from web.menu import build_menu


def format_datetime(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


# Macro files whose macros every template can call without importing them. A block
# rendered alone by jinja2-fragments does not run its template's top-level imports, so
# shared macros must be globals.
GLOBAL_MACROS = ("macros/forms.html", "macros/grid.html", "macros/jobs.html")


def _register_macros(app: Flask) -> None:
    for name in GLOBAL_MACROS:
        module = app.jinja_env.get_template(name).module
        for attr in dir(module):
            if not attr.startswith("_"):
                app.jinja_env.globals[attr] = getattr(module, attr)


def init_app(app: Flask) -> None:
    app.add_template_filter(format_datetime, "datetime")
    _register_macros(app)

    @app.context_processor
    def layout_context():
        return {
            "menu": build_menu() if current_user.is_authenticated else [],
            "jobs_mode": "rq" if get_redis() is not None else "in-process",
        }
