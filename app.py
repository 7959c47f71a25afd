"""Application factory: configuration, extensions, blueprints and CLI, in that order."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import config
from extensions import csrf
from extensions import db
from extensions import migrate
from extensions import oauth


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(config.load(app.instance_path))
    if test_config:
        app.config.update(test_config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Local imports keep module import free of side effects, so tests and the CLI
    # can build several apps with different settings.
    import blueprints
    import cli
    import jobs.cli
    import jobs.queue
    import models  # noqa: F401 - registers the tables with the metadata
    import web.collector
    import web.context
    import web.errors
    import web.security
    from jobs import dotdigital as dotdigital_jobs  # noqa: F401 - registers the job kinds
    from jobs import email_campaigns as email_campaign_jobs  # noqa: F401 - job kinds
    from jobs import lists as list_jobs  # noqa: F401 - registers the job kinds
    from jobs import mailchimp as mailchimp_jobs  # noqa: F401 - registers the job kinds
    from jobs import maintenance  # noqa: F401 - registers the job kinds
    from jobs import tracking as tracking_jobs  # noqa: F401 - registers the job kinds

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True)
    csrf.init_app(app)
    oauth.init_app(app)
    jobs.queue.init_app(app)
    web.security.init_app(app)
    web.errors.init_app(app)
    web.context.init_app(app)
    blueprints.init_app(app)
    jobs.cli.init_app(app)
    cli.init_app(app)
    # The public tracking collector is served ahead of Flask's dispatch (web/collector.py),
    # inside ProxyFix so that it sees the real client address too.
    app.wsgi_app = web.collector.mount(app, app.wsgi_app)
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app
