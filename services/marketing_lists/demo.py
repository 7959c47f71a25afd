"""Demo data for the lists area: contacts, leads and two marketing lists."""

from __future__ import annotations

import random

from sqlalchemy import func
from sqlalchemy import select

from demo import seeder
from extensions import db
from models.contacts import Contact
from models.contacts import Lead
from models.contacts import LeadSource
from models.contacts import LeadStatus
from models.lists import ListType
from models.lists import MarketingList
from services.marketing_lists import membership

FIRST = ("Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Radia",
         "Edsger")
LAST = ("Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov",
        "Ritchie", "Perlman", "Dijkstra")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", None)
COUNTRIES = ("France", "Germany", "United Kingdom", "United States", "Spain")


@seeder
def seed_lists() -> str | None:
    if db.session.scalar(select(func.count()).select_from(Contact)):
        return None
    rng = random.Random(3)
    for n in range(50):
        first, last = FIRST[n % 10], LAST[(n * 3) % 10]
        db.session.add(Contact(
            first_name=first, last_name=last, email=f"{first}.{last}{n}@example.com".lower(),
            phone=f"+33 1 23 45 {n:02d} 00" if n % 4 else None,
            company=COMPANIES[n % 5], job_title=rng.choice(("Engineer", "Buyer", "CTO")),
            country=COUNTRIES[n % 5], city=None, tags="newsletter" if n % 3 == 0 else None))
    for n in range(20):
        db.session.add(Lead(
            name=f"{COMPANIES[n % 4]} opportunity {n}", first_name=FIRST[n % 10],
            last_name=LAST[n % 10], email=f"lead{n}@example.org",
            company=COMPANIES[n % 4], source=list(LeadSource)[n % len(LeadSource)],
            status=list(LeadStatus)[n % len(LeadStatus)]))
    db.session.flush()
    columns = [{"field": "first_name", "label": "First name", "sort": ""},
               {"field": "last_name", "label": "Last name", "sort": ""},
               {"field": "email", "label": "Email", "sort": ""}]
    lists = [
        MarketingList(name="Newsletter (France and Spain)", entity="contact",
                      type=ListType.DYNAMIC, description="Contacts tagged newsletter.",
                      filter={"op": "and", "items": [
                          {"field": "tags", "op": "contains", "value": "newsletter"},
                          {"op": "or", "items": [
                              {"field": "country", "op": "eq", "value": "France"},
                              {"field": "country", "op": "eq", "value": "Spain"}]}]},
                      columns=columns),
        MarketingList(name="Qualified leads", entity="lead", type=ListType.ON_DEMAND,
                      filter={"op": "and", "items": [
                          {"field": "status", "op": "eq", "value": "qualified"}]},
                      columns=[{"field": "name", "label": "Lead", "sort": "asc"},
                               {"field": "email", "label": "Email", "sort": ""}]),
    ]
    db.session.add_all(lists)
    db.session.commit()
    for mlist in lists:
        membership.materialise(mlist.id)
    return "50 contacts, 20 leads and 2 marketing lists"
