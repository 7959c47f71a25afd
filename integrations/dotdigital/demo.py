"""Demo data: a Dotdigital integration pointing at the local emulator."""

from __future__ import annotations

import os

from sqlalchemy import select

from demo import seeder
from emulators.dotdigital_data import DEFAULT_PASSWORD
from emulators.dotdigital_data import DEFAULT_USERNAME
from extensions import db
from models.integrations import Integration

DEMO_NAME = "Dotdigital (demo emulator)"
DEFAULT_BASE = "http://127.0.0.1:5101"


@seeder
def seed_dotdigital() -> str | None:
    exists = db.session.scalar(select(Integration.id).where(
        Integration.type == "dotdigital", Integration.name == DEMO_NAME))
    if exists:
        return None
    db.session.add(Integration(
        type="dotdigital", name=DEMO_NAME, enabled=True,
        api_base_url=os.environ.get("DOTDIGITAL_API_BASE", DEFAULT_BASE),
        api_username=DEFAULT_USERNAME, api_secret=DEFAULT_PASSWORD, settings={}))
    db.session.commit()
    return f"{DEMO_NAME} created (System > Integrations)"
