"""One blueprint per area; init_app registers them all."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from blueprints import auth
    from blueprints import configuration
    from blueprints import dashboard
    from blueprints import health
    from blueprints import jobs
    from blueprints import users

    for module in (auth, dashboard, health, users, configuration, jobs):
        app.register_blueprint(module.bp)
