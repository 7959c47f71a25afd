"""Where accepted hits go: into the database at once, or onto a Redis Stream to drain.

The stream is read through a consumer group. A drained batch is written together with
the stream position it reached (``TrackingDrainCursor``) in one transaction, and
acknowledged only after that commit: a drain killed before the commit leaves the entries
pending and they are read again; one killed after the commit finds them at or below the
cursor and only acknowledges them. Hits in equal events stored, exactly.
"""

from __future__ import annotations

import json
import time

from flask import current_app
from redis.exceptions import NoScriptError
from redis.exceptions import ResponseError

from extensions import db
from jobs.queue import get_redis
from models.tracking import TrackingDrainCursor
from services.tracking import config
from services.tracking.processing import store_hits

STREAM = "listbridge:tracking:hits"
GROUP = "drain"
# One drain runs at a time (one active JobRun per kind), so a fixed consumer name lets
# the next drain find the entries a killed one had read but not acknowledged.
CONSUMER = "drainer"
LAST_HIT = "listbridge:tracking:last:{site}"
RECENT = "listbridge:tracking:recent:{site}:{minute}"  # hits per site per minute
RECENT_WINDOW = 600  # seconds the Verify panel looks back
DRAIN_BATCH = 10_000


def immediate() -> bool:
    return get_redis() is None or config.current().dynamic


# One round trip and one reply per hit on the collector's hot path: queue the hit and
# update the Verify panel's markers (last hit, per-minute count) inside Redis.
_QUEUE_HIT = """
if ARGV[1] ~= '' then redis.call('XADD', KEYS[1], '*', 'h', ARGV[1]) end
redis.call('HSET', KEYS[2], 'url', ARGV[2], 'at', ARGV[3])
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
"""
_scripts: dict[int, object] = {}


def _script(redis):
    script = _scripts.get(id(redis))
    if script is None:
        script = _scripts[id(redis)] = redis.register_script(_QUEUE_HIT)
    return script


def accept(hits: list[dict]) -> None:
    """Record ``hits`` (already validated) by the configured ingestion mode."""
    if not hits:
        return
    redis = get_redis()
    queued = redis is not None and not config.current().dynamic
    if not queued:
        store_hits(hits)
        db.session.commit()
        if redis is None:
            return
    script = _script(redis)
    if len(hits) == 1:
        _queue(script, redis, hits[0], queued, direct=True)
        return
    pipe = redis.pipeline(transaction=False)
    for hit in hits:
        _queue(script, pipe, hit, queued)
    pipe.execute()


def _queue(script, client, hit: dict, queued: bool, direct: bool = False) -> None:
    site = hit["site"]
    minute = int(hit["at"] // 60)
    payload = json.dumps(hit, separators=(",", ":")) if queued else ""
    keys = (STREAM, LAST_HIT.format(site=site), RECENT.format(site=site, minute=minute))
    args = (payload, hit["url"][:2048], repr(hit["at"]), RECENT_WINDOW + 120)
    if direct:
        try:
            # EVALSHA directly: the Script wrapper costs more Python than the call itself.
            client.execute_command("EVALSHA", script.sha, 3, *keys, *args)
            return
        except NoScriptError:  # first use, or Redis restarted and lost its scripts
            pass
    script(keys=list(keys), args=list(args), client=client)


def recent_count(redis, site: int, since: float) -> int:
    first, last = int(since // 60), int(time.time() // 60)
    keys = [RECENT.format(site=site, minute=m) for m in range(first, last + 1)]
    return sum(int(v) for v in redis.mget(keys) if v)


def pending_count() -> int:
    redis = get_redis()
    if redis is None:
        return 0
    try:
        return int(redis.xlen(STREAM))
    except ResponseError:
        return 0


def _ensure_group(redis) -> None:
    try:
        redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _stream_key(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def drain_batch(redis, count: int = DRAIN_BATCH, *, acknowledge: bool = True) -> tuple[int, int]:
    """Drain up to ``count`` entries; returns (entries read, events stored).

    Entries this consumer read earlier without acknowledging come first.
    """
    _ensure_group(redis)
    entries = []
    for start in ("0", ">"):
        reply = redis.xreadgroup(GROUP, CONSUMER, {STREAM: start}, count=count)
        entries = reply[0][1] if reply else []
        if entries:
            break
    if not entries:
        return 0, 0
    cursor = db.session.get(TrackingDrainCursor, STREAM)
    done = _stream_key(cursor.last_id) if cursor else (0, 0)
    hits = []
    for entry_id, fields in entries:
        if _stream_key(entry_id) <= done:
            continue  # committed by a drain that died before acknowledging
        try:
            hits.append(json.loads(fields[b"h"]))
        except (KeyError, ValueError):
            current_app.logger.warning("tracking: unreadable stream entry %s dropped", entry_id)
    stored = store_hits(hits)
    last_id = entries[-1][0].decode()
    if _stream_key(last_id) > done:
        if cursor is None:
            db.session.add(TrackingDrainCursor(stream=STREAM, last_id=last_id))
        else:
            cursor.last_id = last_id
    db.session.commit()
    if acknowledge:
        ids = [entry_id for entry_id, _ in entries]
        pipe = redis.pipeline(transaction=True)
        pipe.xack(STREAM, GROUP, *ids)
        pipe.xdel(STREAM, *ids)
        pipe.execute()
    return len(entries), stored


def drain(max_seconds: float | None = None, on_batch=None) -> tuple[int, int]:
    """Drain the stream until it is empty (or ``max_seconds`` pass)."""
    redis = get_redis()
    if redis is None:
        return 0, 0
    started = time.monotonic()
    read = stored = 0
    while True:
        batch_read, batch_stored = drain_batch(redis)
        read += batch_read
        stored += batch_stored
        if on_batch and batch_read:
            on_batch(read, stored)
        if not batch_read or (max_seconds and time.monotonic() - started > max_seconds):
            return read, stored
