"""One blueprint per area; init_app registers them all."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # Imported here, not at module level, so importing blueprints has no side effects.
    from blueprints import auth
    from blueprints import campaigns
    from blueprints import configuration
    from blueprints import contacts
    from blueprints import dashboard
    from blueprints import dotdigital
    from blueprints import email_campaigns
    from blueprints import email_tracking
    from blueprints import health
    from blueprints import integrations
    from blueprints import jobs
    from blueprints import leads
    from blueprints import lists
    from blueprints import mailchimp
    from blueprints import marketing_activity
    from blueprints import tracking
    from blueprints import users

    for module in (
        # Foundation
        auth, dashboard, health, users, configuration, jobs,
        # Records and marketing lists
        contacts, leads, lists, marketing_activity,
        # Campaigns, email campaigns and the public links in sent mail
        campaigns, email_campaigns, email_tracking,
        # Website tracking (its public collector is web/collector.py, ahead of Flask)
        tracking,
        # Integrations (dotdigital.py also loads its SSO and statistics views)
        integrations, dotdigital, mailchimp,
    ):
        app.register_blueprint(module.bp)
