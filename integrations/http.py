"""The HTTP base every remote API client builds on.

It owns what Oro got wrong or left out: a bounded timeout on every call, retries with
exponential backoff and jitter on 5xx, timeouts and 429 (honouring ``Retry-After`` and a
rate-limit reset header), typed errors that carry the API's own error code, and a count of
the calls made, which a sync run reports. Subclasses supply authentication and
``parse_error`` for their API's error body.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

import requests

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    """A failed call: HTTP ``status`` (0 when no answer came), the API's ``code``, a message."""

    def __init__(self, status: int, code: str | None, message: str, body=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.body = body

    def __str__(self) -> str:
        prefix = f"HTTP {self.status}" if self.status else "No answer"
        return f"{prefix}: {self.message}"


class AuthError(ApiError):
    """Credentials refused (401) or access denied (403, e.g. the wrong region)."""


class NotFoundError(ApiError):
    pass


class ValidationError(ApiError):
    """The API refused the request's content (400, 409, 422)."""


class RateLimitError(ApiError):
    """Still throttled after the retries, or told to wait longer than we are willing to."""

    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx, a timeout or a connection failure that outlived the retries."""


@dataclass
class RateInfo:
    """The last rate-limit headers seen: what the "calls used in this window" meter shows."""

    limit: int | None = None
    remaining: int | None = None
    reset_seconds: int | None = None
    seen_at: float | None = None

    @property
    def used(self) -> int | None:
        if self.limit is None or self.remaining is None:
            return None
        return max(0, self.limit - self.remaining)

    def as_dict(self) -> dict:
        return {"limit": self.limit, "remaining": self.remaining,
                "reset_seconds": self.reset_seconds, "seen_at": self.seen_at}


def _int_header(headers, name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(float(raw)) if raw not in (None, "") else None
    except ValueError:
        return None


class ApiClient:
    """A thin client over one base URL with retries, typed errors and a call counter."""

    max_attempts = 5
    backoff_base = 0.5  # seconds before the first retry; doubles each attempt
    backoff_cap = 20.0
    # A longer Retry-After than this is not slept through: the run fails clearly and the
    # next scheduled run resumes, instead of a worker idling for an hour.
    max_retry_wait = 90.0
    rate_limit_reset_header = "X-RateLimit-Reset"
    rate_limit_limit_header = "X-RateLimit-Limit"
    rate_limit_remaining_header = "X-RateLimit-Remaining"

    def __init__(self, base_url: str, *, timeout: float = 30.0,
                 session: requests.Session | None = None, max_attempts: int | None = None,
                 backoff_base: float | None = None, sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        if max_attempts is not None:
            self.max_attempts = max_attempts
        if backoff_base is not None:
            self.backoff_base = backoff_base
        self.sleep = sleep
        self.calls = 0  # HTTP requests sent, retries included
        self.retries = 0
        self.rate = RateInfo()

    # -- hooks for subclasses ----------------------------------------------------------
    def prepare(self, kwargs: dict) -> None:
        """Add authentication and default headers to a request's keyword arguments."""

    def parse_error(self, response: requests.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = (body.get("message") if isinstance(body, dict) else None) \
            or response.text[:300] or response.reason or "error"
        return error_for(response.status_code, None, message, body)

    # -- calls -------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """Send one call, retrying what is worth retrying; raise an ApiError otherwise."""
        kwargs.setdefault("timeout", self.timeout)
        self.prepare(kwargs)
        url = self.url(path)
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                if attempt >= self.max_attempts:
                    raise ServerError(0, None, f"{method} {path} failed: "
                                               f"{type(exc).__name__}") from exc
                self._wait(attempt, None)
                continue
            self._note_rate(response)
            if response.status_code < 400:
                return response
            if response.status_code in RETRY_STATUSES and attempt < self.max_attempts:
                wait = self._server_wait(response)
                if wait is not None and wait > self.max_retry_wait:
                    raise self._rate_error(response, wait)
                self._wait(attempt, wait)
                continue
            if response.status_code == 429:
                raise self._rate_error(response, self._server_wait(response))
            raise self.parse_error(response)

    def get(self, path: str, **kwargs):
        return self.json(self.request("GET", path, **kwargs))

    def post(self, path: str, **kwargs):
        return self.json(self.request("POST", path, **kwargs))

    def delete(self, path: str, **kwargs):
        return self.json(self.request("DELETE", path, **kwargs))

    @staticmethod
    def json(response: requests.Response):
        if not response.content:
            return None
        if "json" not in response.headers.get("Content-Type", ""):
            return response.text
        return response.json()

    def iter_offset(self, path: str, *, page_size: int, size_param: str, offset_param: str,
                    params: dict | None = None,
                    items: Callable[[object], list] = lambda body: body) -> Iterator[object]:
        """Yield every item of an offset-paged collection; a short page ends it."""
        for page in self.iter_offset_pages(path, page_size=page_size, size_param=size_param,
                                           offset_param=offset_param, params=params,
                                           items=items):
            yield from page

    def iter_offset_pages(self, path: str, *, page_size: int, size_param: str,
                          offset_param: str, params: dict | None = None,
                          items: Callable[[object], list] = lambda body: body
                          ) -> Iterator[list]:
        """The same collection a non-empty page at a time, for callers storing whole pages."""
        offset = 0
        while True:
            query = dict(params or {}, **{size_param: page_size, offset_param: offset})
            page = items(self.get(path, params=query)) or []
            if page:
                yield page
            if len(page) < page_size:
                return
            offset += page_size

    # -- internals ---------------------------------------------------------------------
    def _note_rate(self, response: requests.Response) -> None:
        headers = response.headers
        limit = _int_header(headers, self.rate_limit_limit_header)
        if limit is None:
            return
        self.rate = RateInfo(limit, _int_header(headers, self.rate_limit_remaining_header),
                             _int_header(headers, self.rate_limit_reset_header), time.time())

    def _server_wait(self, response: requests.Response) -> float | None:
        """Seconds the server asks us to wait: Retry-After, else the reset header on a 429."""
        retry_after = _int_header(response.headers, "Retry-After")
        if retry_after is not None:
            return float(retry_after)
        if response.status_code == 429:
            reset = _int_header(response.headers, self.rate_limit_reset_header)
            if reset is not None:
                return float(reset)
        return None

    def _rate_error(self, response, wait: float | None) -> RateLimitError:
        parsed = self.parse_error(response)
        return RateLimitError(response.status_code, parsed.code,
                              f"rate limited: {parsed.message}"
                              + (f" (retry in {int(wait)} s)" if wait else ""),
                              parsed.body, retry_after=wait)

    def _wait(self, attempt: int, server_wait: float | None) -> None:
        self.retries += 1
        backoff = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        # Full jitter spreads the retries of parallel workers apart.
        delay = random.uniform(backoff / 2, backoff)
        if server_wait is not None:
            delay = max(delay, server_wait)
        self.sleep(delay)


def error_for(status: int, code: str | None, message: str, body=None) -> ApiError:
    """The typed error for an HTTP status."""
    if status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status in (400, 409, 422):
        cls = ValidationError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    else:
        cls = ApiError
    return cls(status, code, message, body)
