"""Matomo tracking HTTP API requests → hits, validated and capped.

A hit is a small JSON-safe dict, the unit that is queued in Redis or written at once:
``site`` (website id), ``at`` (epoch seconds), ``name``, ``value``, ``user``, ``url``,
``title``, ``code``, ``visitor``, ``ip``, ``ua``, and ``query`` (the original request,
kept only when hits are forwarded to a Matomo server).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import UTC
from datetime import datetime
from urllib.parse import parse_qsl
from urllib.parse import urlencode

MAX_BODY = 64 * 1024  # bytes of one request body (a bulk request included)
MAX_BULK = 100  # hits in one bulk request
MAX_URL = 4096
MAX_TEXT = 255
MAX_TITLE = 512
MAX_UA = 512
# cdt may backdate a hit this far without token_auth, as Matomo allows.
MAX_BACKDATE = 24 * 3600
MAX_CLOCK_SKEW = 300

# Parameters whose values we read; anything else in a request is ignored.
_LIMITS = {
    "idsite": MAX_TEXT, "rec": 8, "url": MAX_URL, "urlref": MAX_URL,
    "action_name": MAX_TITLE, "_id": 64, "uid": MAX_TEXT, "_uid": MAX_TEXT,
    "e_c": MAX_TEXT, "e_a": MAX_TEXT, "e_n": MAX_TEXT, "e_v": 64,
    "_rcn": MAX_TEXT, "_rck": MAX_TEXT, "cdt": 64, "ua": MAX_UA, "lang": MAX_TEXT,
    "res": 32, "send_image": 8, "cip": 64, "token_auth": 128,
}


class HitError(ValueError):
    """A request that is not a valid tracking hit; the message goes back to the sender."""


def parse_body(raw: bytes, content_type: str) -> list[dict[str, str]]:
    """The parameter sets in a POST body: a bulk JSON request, or one form-encoded hit."""
    if len(raw) > MAX_BODY:
        raise HitError("request body too large")
    try:
        text = raw.decode("utf-8") if raw else ""
    except UnicodeDecodeError as exc:
        raise HitError("body is not UTF-8") from exc
    stripped = text.lstrip()
    if stripped.startswith("{") or "json" in content_type:
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise HitError("body is not valid JSON") from exc
        requests = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(requests, list) or not requests:
            raise HitError('bulk body needs a non-empty "requests" list')
        if len(requests) > MAX_BULK:
            raise HitError(f"at most {MAX_BULK} requests in one bulk request")
        sets = []
        for item in requests:
            if not isinstance(item, str):
                raise HitError("each bulk request must be a query string")
            sets.append(parse_query(item.split("?", 1)[1] if "?" in item else item))
        return sets
    return [parse_query(text)] if text else []


def parse_query(query: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False,
                          max_num_fields=200)
    except ValueError as exc:
        raise HitError("too many parameters") from exc
    return {key: value for key, value in pairs if key in _LIMITS}


def check_fields(params: dict[str, str]) -> None:
    """Sizes and characters, checked before any value reaches the database."""
    for key, value in params.items():
        if len(value) > _LIMITS[key]:
            raise HitError(f"{key} is longer than {_LIMITS[key]} characters")
        if "\x00" in value:
            raise HitError(f"{key} contains a NUL character")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # a lone surrogate from a JSON \ud800 escape
                raise HitError(f"{key} is not valid text") from exc


def to_hit(params: dict[str, str], site_id: int, *, ip: str, user_agent: str,
           language: str, referer: str = "", now: float | None = None,
           keep_query: bool = False) -> dict:
    """Validate one parameter set (already resolved to ``site_id``) into a hit."""
    check_fields(params)
    if params.get("rec") != "1":
        raise HitError("rec=1 is required")
    # An image pixel (noscript) has no url parameter; its Referer is the page.
    url = params.get("url", "") or referer[:MAX_URL]
    if not url:
        raise HitError("url is required")
    now = time.time() if now is None else now
    at = _logged_at(params.get("cdt"), now)
    value = None
    if params.get("e_v", "") != "":
        try:
            value = float(params["e_v"])
        except ValueError as exc:
            raise HitError("e_v must be a number") from exc
        if not math.isfinite(value):
            raise HitError("e_v must be a finite number")
    is_event = bool(params.get("e_c") or params.get("e_a"))
    name = (params.get("e_n") or params.get("e_a") or "event") if is_event else "visit"
    if not is_event and value is None:
        value = 1.0  # a page view counts once, as Oro's default value
    ua = params.get("ua") or user_agent[:MAX_UA]
    lang = params.get("lang") or language[:MAX_TEXT]
    user = params.get("uid") or params.get("_uid") or "guest"
    visitor = (params.get("_id") or "").strip().lower()
    if not visitor:
        # Cookieless tracking: a daily-rotating fingerprint, as Matomo's config id does.
        day = datetime.fromtimestamp(at, UTC).strftime("%Y%m%d")
        seed = "|".join((str(site_id), ip, ua, lang, day))
        visitor = hashlib.sha256(seed.encode()).hexdigest()[:16]
    hit = {
        "site": site_id, "at": at, "name": name, "value": value, "user": user, "url": url,
        "title": params.get("action_name", ""), "code": params.get("_rcn") or None,
        "visitor": visitor[:32], "ip": ip[:64], "ua": ua,
    }
    if keep_query:
        forwarded = {k: v for k, v in params.items() if k not in ("token_auth", "cip")}
        forwarded.setdefault("cdt", str(int(at)))
        forwarded.setdefault("ua", ua)
        forwarded["cip"] = ip
        hit["query"] = urlencode(forwarded)
    return hit


def _logged_at(cdt: str | None, now: float) -> float:
    if not cdt:
        return now
    try:
        at = float(cdt)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(cdt.replace(" ", "T"))
        except ValueError as exc:
            raise HitError("cdt must be a UNIX timestamp or a datetime") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        at = parsed.timestamp()
    if not math.isfinite(at) or at > now + MAX_CLOCK_SKEW or at < now - MAX_BACKDATE:
        raise HitError("cdt must be within the last 24 hours")
    return min(at, now)


def wants_image(params: dict[str, str], method: str) -> bool:
    """Matomo answers a GIF unless send_image=0; a POST (beacon, fetch) needs none."""
    flag = params.get("send_image")
    if flag is not None:
        return flag == "1"
    return method == "GET"
