"""Hits → events grouped into visits, written in bulk. The caller commits.

A visit is the run of hits of one visitor id and user identifier on one site with no
gap longer than ``VISIT_GAP``; signing in (a new user identifier) starts a new visit, as
Oro grouped them by visitor id and user identifier.
"""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from extensions import db
from models.base import utcnow
from models.tracking import TrackingEvent
from models.tracking import TrackingOutbox
from models.tracking import TrackingVisit
from models.tracking import TrackingWebsite
from services.tracking.useragent import parse_agent

VISIT_GAP = 30 * 60  # seconds, Matomo's default visit length
# Landing-page parameters that carry a campaign code, as the Matomo tracker reads them.
CAMPAIGN_PARAMS = ("pk_campaign", "piwik_campaign", "mtm_campaign", "matomo_campaign",
                   "utm_campaign", "pk_cpn")


def campaign_from_url(url: str) -> str | None:
    if "campaign" not in url and "pk_cpn" not in url:
        return None
    try:
        params = dict(parse_qsl(urlsplit(url).query))
    except ValueError:
        return None
    for key in CAMPAIGN_PARAMS:
        if params.get(key):
            return params[key][:255]
    return None


class _Visit:
    __slots__ = ("code", "dirty", "first", "hit", "id", "last")

    def __init__(self, id_, first, last, code, hit=None):
        self.id, self.first, self.last, self.code, self.hit = id_, first, last, code, hit
        self.dirty = False


def store_hits(hits: list[dict]) -> int:
    """Write ``hits`` as events and visits; returns how many were stored.

    Hits of websites deleted since they were collected are dropped.
    """
    if not hits:
        return 0
    site_ids = {h["site"] for h in hits}
    known = set(db.session.scalars(select(TrackingWebsite.id)
                                   .where(TrackingWebsite.id.in_(site_ids))))
    hits = sorted((h for h in hits if h["site"] in known), key=lambda h: h["at"])
    if not hits:
        return 0
    for hit in hits:
        if not hit.get("code"):
            hit["code"] = campaign_from_url(hit["url"])

    visits = _open_visits(hits)
    assigned: list[_Visit] = []
    for hit in hits:
        key = (hit["site"], hit["visitor"], hit["user"])
        at = hit["at"]
        visit = visits.get(key)
        if visit is None or at - visit.last > VISIT_GAP:
            visit = _Visit(None, at, at, hit.get("code"), hit)
            visits[key] = visit
        else:
            if at > visit.last:
                visit.last = at
                visit.dirty = True
            if visit.code is None and hit.get("code"):
                visit.code = hit["code"]
                visit.dirty = True
        assigned.append(visit)

    _write_visits({id(v): v for v in assigned}.values())
    now = utcnow()
    _insert_many(TrackingEvent.__table__, [{
        "website_id": hit["site"], "visit_id": visit.id, "name": hit["name"][:255],
        "value": hit["value"], "user_identifier": hit["user"][:255], "url": hit["url"],
        "title": (hit.get("title") or "")[:512], "code": hit.get("code"),
        "logged_at": _dt(hit["at"]), "created_at": now,
    } for hit, visit in zip(hits, assigned, strict=True)])
    outbox = [{"website_id": h["site"], "query": h["query"], "created_at": now}
              for h in hits if h.get("query")]
    if outbox:
        _insert_many(TrackingOutbox.__table__, outbox)
    return len(hits)


INSERT_CHUNK = 1000  # rows per UPDATE … FROM (VALUES …)


def _insert_many(table, rows: list[dict]) -> None:
    """Bulk insert in the session's transaction: COPY on PostgreSQL, executemany elsewhere.

    COPY is several times faster than any INSERT form for the drain's batches.
    """
    if not rows:
        return
    if db.engine.dialect.name != "postgresql":
        db.session.execute(insert(table), rows)
        return
    names = list(rows[0])
    driver = db.session.connection().connection.driver_connection
    columns = ", ".join(f'"{name}"' for name in names)
    with driver.cursor() as cursor, cursor.copy(
            f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _open_visits(hits: list[dict]) -> dict[tuple, _Visit]:
    """Visits that the earliest hit of the batch may still extend."""
    visitors = list({h["visitor"] for h in hits})
    sites = list({h["site"] for h in hits})
    since = hits[0]["at"] - VISIT_GAP
    if db.engine.dialect.name == "postgresql":
        rows = _open_visit_rows_pg(sites, visitors, since)
    else:
        rows = ((row.id, row.website_id, row.visitor_id, row.user_identifier,
                 row.first_action_at.timestamp(), row.last_action_at.timestamp(), row.code)
                for row in db.session.execute(
                    select(TrackingVisit.id, TrackingVisit.website_id, TrackingVisit.visitor_id,
                           TrackingVisit.user_identifier, TrackingVisit.first_action_at,
                           TrackingVisit.last_action_at, TrackingVisit.code)
                    .where(TrackingVisit.website_id.in_(sites),
                           TrackingVisit.visitor_id.in_(visitors),
                           TrackingVisit.last_action_at >= _dt(since))
                    .order_by(TrackingVisit.last_action_at)))
    found = {}
    for id_, site, visitor, user, first, last, code in rows:
        found[(site, visitor, user)] = _Visit(id_, first, last, code)
    return found


def _open_visit_rows_pg(sites: list[int], visitors: list[str], since: float):
    """The same lookup on the driver's cursor, times as epoch seconds.

    A batch asks for thousands of visitors: passed as one JSON text and read back
    without the ORM's per-value conversions, it runs in a third of the time.
    """
    driver = db.session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        cursor.execute(
            "SELECT id, website_id, visitor_id, user_identifier, "
            "extract(epoch FROM first_action_at)::float8, "
            "extract(epoch FROM last_action_at)::float8, code FROM tracking_visits "
            "WHERE website_id = ANY(%s) "
            "AND visitor_id IN (SELECT json_array_elements_text(%s::json)) "
            "AND last_action_at >= to_timestamp(%s) ORDER BY last_action_at",
            (sites, json.dumps(visitors), since))
        return cursor.fetchall()


def _write_visits(visits) -> None:
    new = [v for v in visits if v.id is None]
    if new:
        rows = []
        for visit in new:
            hit = visit.hit
            agent = parse_agent(hit.get("ua") or "")
            rows.append({
                "website_id": hit["site"], "visitor_id": hit["visitor"],
                "user_identifier": hit["user"][:255], "ip": hit.get("ip", "")[:64],
                "user_agent": (hit.get("ua") or "")[:512], "client": agent.client,
                "client_version": agent.client_version, "os": agent.os,
                "os_version": agent.os_version, "device": agent.device,
                "desktop": agent.desktop, "mobile": agent.mobile, "bot": agent.bot,
                "code": visit.code, "first_action_at": _dt(visit.first),
                "last_action_at": _dt(visit.last),
            })
        if db.engine.dialect.name == "postgresql":
            # Take the ids from the sequence first, so the rows can go in by COPY.
            ids = db.session.execute(text(
                "SELECT nextval(pg_get_serial_sequence('tracking_visits', 'id')) "
                "FROM generate_series(1, :n)"), {"n": len(rows)}).scalars().all()
            for row, new_id in zip(rows, ids, strict=True):
                row["id"] = new_id
            _insert_many(TrackingVisit.__table__, rows)
        else:
            ids = db.session.execute(
                insert(TrackingVisit.__table__).returning(TrackingVisit.__table__.c.id,
                                                          sort_by_parameter_order=True),
                rows).scalars().all()
        for visit, new_id in zip(new, ids, strict=True):
            visit.id = new_id
    changed = [v for v in visits if v.id is not None and v.dirty and v.hit is None]
    if not changed:
        return
    table = TrackingVisit.__table__
    if db.engine.dialect.name == "postgresql":
        # One UPDATE from three array parameters instead of a statement per visit.
        db.session.execute(text(
            "UPDATE tracking_visits SET last_action_at = v.last, code = v.code "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:lasts AS timestamptz[]), "
            "CAST(:codes AS varchar[])) AS v(id, last, code) WHERE tracking_visits.id = v.id"),
            {"ids": [v.id for v in changed], "lasts": [_dt(v.last) for v in changed],
             "codes": [v.code for v in changed]})
        return
    db.session.execute(update(table).where(table.c.id == bindparam("vid")),
                       [{"vid": v.id, "last_action_at": _dt(v.last), "code": v.code}
                        for v in changed])

