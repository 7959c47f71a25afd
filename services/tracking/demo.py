"""Demo data: one tracked website with a week of page views and events."""

from __future__ import annotations

import random
import time

from sqlalchemy import func
from sqlalchemy import select

from demo import seeder
from extensions import db
from models.tracking import TrackingEvent
from models.tracking import TrackingWebsite
from services.tracking import websites
from services.tracking.processing import store_hits

DEMO_IDENTIFIER = "demo-shop"
PAGES = ("/", "/products", "/products/blue-kettle", "/cart", "/checkout", "/blog/spring-sale")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)


@seeder
def seed_tracking() -> str | None:
    website = db.session.scalar(select(TrackingWebsite).where(
        TrackingWebsite.identifier == DEMO_IDENTIFIER))
    if website is None:
        website = websites.save(None, websites.WebsiteData(
            name="Demo Shop", identifier=DEMO_IDENTIFIER, url="https://shop.example.com",
            description="A demo site; its snippet is on the website page."))
    existing = db.session.scalar(select(func.count()).select_from(TrackingEvent).where(
        TrackingEvent.website_id == website.id))
    if existing:
        return None
    rng = random.Random(7)  # the same demo every time
    now = time.time()
    hits = []
    for visitor in range(40):
        at = now - rng.uniform(0, 7 * 86400)
        code = rng.choice((None, None, "spring-sale", "newsletter-11"))
        user = f"visitor{visitor}@example.com" if rng.random() < 0.3 else "guest"
        agent = rng.choice(AGENTS)
        for page in rng.sample(PAGES, rng.randint(1, 4)):
            at += rng.uniform(5, 120)
            base = {"site": website.id, "at": at, "user": user, "visitor": f"{visitor:016x}",
                    "ip": f"203.0.113.{visitor}", "ua": agent, "code": code,
                    "url": f"https://shop.example.com{page}"}
            hits.append({**base, "name": "visit", "value": 1.0, "title": page})
            if page == "/cart":
                hits.append({**base, "name": "cart item added",
                             "value": float(rng.randint(10, 90)), "title": "Cart"})
    stored = store_hits(hits)
    db.session.commit()
    return f"tracking website {DEMO_IDENTIFIER} with {stored} events"
