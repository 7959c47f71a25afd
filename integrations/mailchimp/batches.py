"""Export batches sent to Mailchimp a few at a time, their outcomes recorded in order.

A batch's remote part (taking changed-away emails out of the segment, the batch subscribe,
the segment add) is HTTP only, so it runs on a small thread pool while the sync plans and
records the next batches. Outcomes are handed back to the calling thread in submission
order and only once all of a batch's calls succeeded, so the sync state is still written
only after Mailchimp confirmed, by the thread that owns the database session.

Mailchimp allows 10 simultaneous connections per user; ``WIDTH`` stays well under it,
leaving room for another list's sync on the same account.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field

from integrations.mailchimp.client import MailchimpClient
from services.sync import plan

WIDTH = 4
# Mailchimp's status words as the shared sync state spells them (services.sync.plan).
STATUS_WORDS = {"subscribed": "Subscribed", "unsubscribed": "Unsubscribed",
                "cleaned": "Cleaned", "pending": "PendingOptIn",
                "transactional": "Transactional", "archived": "Archived"}
MAILABLE = frozenset(plan.MAILABLE)


def member_state(member: dict) -> tuple[str, tuple[str, str]]:
    """(lower-cased email, (status word, member id)) of a member as Mailchimp returns it."""
    return ((member.get("email_address") or "").strip().lower(),
            (STATUS_WORDS.get(member.get("status"), "Subscribed"), str(member.get("id") or "")))


def subscribe_outcome(answer: dict) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """({email: (status word, member id)}, {email: error}) from a batch subscribe answer."""
    statuses = dict(map(member_state, (answer.get("new_members") or [])
                        + (answer.get("updated_members") or [])))
    errors = {(e.get("email_address") or "").strip().lower(): str(e.get("error") or "")
              for e in answer.get("errors") or []}
    return statuses, errors


def not_members(answer: dict) -> set[str]:
    """The emails a segment edit answer says are not members of the audience."""
    missing = set()
    for error in answer.get("errors") or []:
        missing.update(e.strip().lower() for e in error.get("email_addresses") or [])
    return missing


@dataclass
class Batch:
    """Up to 500 emails: what to send, and once sent, what Mailchimp answered."""

    groups: dict[str, list[plan.ExportRow]]
    old_emails: list[str] = field(default_factory=list)
    statuses: dict[str, tuple[str, str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    not_members: set[str] = field(default_factory=set)
    subscribe_calls: int = 0
    segment_calls: int = 0
    calls: int = 0
    retries: int = 0

    @property
    def emails(self) -> set[str]:
        return set(self.groups) | set(self.old_emails)

    def members(self) -> list[dict]:
        return [{"email_address": email, "status_if_new": "subscribed",
                 "merge_fields": group[0].values} for email, group in self.groups.items()]


class Window:
    """Batches in flight, at most ``width``; ``record`` runs here, oldest batch first."""

    def __init__(self, client: MailchimpClient, audience: str, segment: str,
                 record: Callable[[Batch], None], width: int | None = None):
        self.client = client
        self.audience = audience
        self.segment = segment
        self.record = record
        self.width = max(1, width or WIDTH)
        self.pool = ThreadPoolExecutor(self.width, thread_name_prefix="mailchimp-export")
        self.inflight: deque[tuple[Batch, Future]] = deque()
        self._local = threading.local()
        self._clients: list[MailchimpClient] = []
        self._clients_lock = threading.Lock()

    def __enter__(self) -> Window:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                while self.inflight:
                    self._settle_oldest()
        finally:
            # After a failure here, calls not yet started are dropped: their rows keep no
            # state and are planned again by the next run.
            self.pool.shutdown(wait=True, cancel_futures=True)
            for client in self._clients:
                client.session.close()

    def submit(self, batch: Batch) -> None:
        # An email in two batches at once could land in either order: wait for the first.
        emails = batch.emails
        while self.inflight and (len(self.inflight) >= self.width
                                 or any(emails & b.emails for b, _ in self.inflight)):
            self._settle_oldest()
        self.inflight.append((batch, self.pool.submit(self._send, batch)))

    def _settle_oldest(self) -> None:
        batch, future = self.inflight.popleft()
        try:
            future.result()
        except BaseException:
            self._count_calls(batch)
            self._settle_after_failure()
            raise
        self._record(batch)

    def _settle_after_failure(self) -> None:
        # Later batches Mailchimp did confirm are recorded, so they are not sent again.
        while self.inflight:
            batch, future = self.inflight.popleft()
            if future.exception() is None:
                self._record(batch)
            else:
                self._count_calls(batch)

    def _count_calls(self, batch: Batch) -> None:
        # The run reports the calls of its own client: add what the workers made.
        self.client.calls += batch.calls
        self.client.retries += batch.retries

    def _record(self, batch: Batch) -> None:
        self._count_calls(batch)
        self.record(batch)

    def _worker_client(self) -> MailchimpClient:
        # requests sessions are not meant to be shared between threads: one per worker.
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self.client.worker_copy()
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _send(self, batch: Batch) -> None:
        """The remote part of one batch, on a worker thread: HTTP only, no database."""
        client = self._worker_client()
        calls, retries = client.calls, client.retries
        try:
            if batch.old_emails:
                client.edit_segment(self.audience, self.segment, remove=batch.old_emails)
                batch.segment_calls += 1
            answer = client.batch_subscribe(self.audience, batch.members())
            batch.subscribe_calls += 1
            batch.statuses, batch.errors = subscribe_outcome(answer)
            to_segment = [e for e, (s, _) in batch.statuses.items() if s in MAILABLE]
            if to_segment:
                answer = client.edit_segment(self.audience, self.segment, add=to_segment)
                batch.segment_calls += 1
                batch.not_members = not_members(answer)
        finally:
            batch.calls, batch.retries = client.calls - calls, client.retries - retries
