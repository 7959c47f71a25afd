"""Factories for tracking websites and hits."""

from __future__ import annotations

import itertools
import time

from extensions import db
from models.tracking import TrackingWebsite

_seq = itertools.count(1)


def website(identifier: str | None = None, name: str | None = None,
            url: str = "https://shop.example.com", owner=None) -> TrackingWebsite:
    n = next(_seq)
    row = TrackingWebsite(identifier=identifier or f"site-{n}", name=name or f"Site {n}",
                          url=url, description="", owner_id=owner.id if owner else None)
    db.session.add(row)
    db.session.commit()
    return row


def hit(site_id: int, **changes) -> dict:
    """A processed hit as the collector queues it."""
    base = {"site": site_id, "at": time.time(), "name": "visit", "value": 1.0, "user": "guest",
            "url": "https://shop.example.com/", "title": "Home", "code": None,
            "visitor": "0123456789abcdef", "ip": "203.0.113.5",
            "ua": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
    base.update(changes)
    return base
