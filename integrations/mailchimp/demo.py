"""Demo data: a Mailchimp integration pointing at the local emulator."""

from __future__ import annotations

import os

from sqlalchemy import select

from demo import seeder
from emulators.mailchimp_data import DEFAULT_API_KEY
from extensions import db
from models.integrations import Integration

DEMO_NAME = "Mailchimp (demo emulator)"
DEFAULT_BASE = "http://127.0.0.1:5102"


@seeder
def seed_mailchimp() -> str | None:
    exists = db.session.scalar(select(Integration.id).where(
        Integration.type == "mailchimp", Integration.name == DEMO_NAME))
    if exists:
        return None
    db.session.add(Integration(
        type="mailchimp", name=DEMO_NAME, enabled=True,
        api_base_url=os.environ.get("MAILCHIMP_API_BASE", DEFAULT_BASE),
        api_secret=DEFAULT_API_KEY,
        settings={"activity_interval": 90, "two_way_sync": False, "sync_priority": "remote"}))
    db.session.commit()
    return f"{DEMO_NAME} created (System > Integrations)"
