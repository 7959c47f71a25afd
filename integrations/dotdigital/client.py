"""Dotdigital API v2 over HTTP Basic auth, with region discovery and select/skip paging.

The account's region is found the way Dotdigital documents it: call ``account-info`` on the
configured base URL and switch to its ``ApiEndpoint`` property. Errors carry the
``ERROR_*`` code Dotdigital puts at the end of its ``message``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

from flask import current_app

from integrations.http import ApiClient
from integrations.http import ApiError
from integrations.http import RateLimitError
from integrations.http import error_for

PAGE_SIZE = 1000
BOOK_PAGE_SIZE = 100
SYSTEM_BOOKS = frozenset({"all contacts", "test"})
# The floor Oro uses for "since" calls that have no cursor yet.
EPOCH = datetime(1971, 1, 1)
_CODE = re.compile(r"\b(ERROR_[A-Z0-9_]+)\b")


def error_code(message: str | None) -> str | None:
    match = _CODE.search(message or "")
    return match.group(1) if match else None


def since_segment(value: datetime | None) -> str:
    return (value or EPOCH).strftime("%Y-%m-%dT%H:%M:%S")


class DotdigitalClient(ApiClient):
    def __init__(self, base_url: str, username: str, password: str, **kwargs):
        super().__init__(base_url, **kwargs)
        self.auth = (username, password)
        self.account: dict | None = None

    @classmethod
    def for_integration(cls, integration, **kwargs) -> DotdigitalClient:
        kwargs.setdefault("timeout", current_app.config["HTTP_TIMEOUT"])
        base = integration.api_base_url or current_app.config["DOTDIGITAL_API_BASE"]
        return cls(base, integration.api_username or "", integration.api_secret or "", **kwargs)

    def prepare(self, kwargs: dict) -> None:
        kwargs.setdefault("auth", self.auth)
        headers = dict(kwargs.get("headers") or {})
        headers.setdefault("Accept", "application/json")
        kwargs["headers"] = headers

    def parse_error(self, response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = ""
        if isinstance(body, dict):
            message = body.get("message") or body.get("detail") or body.get("title") or ""
        message = message or response.text[:300] or response.reason or "error"
        code = error_code(message)
        if code == "ERROR_APIUSAGE_EXCEEDED":
            # The legacy flat limit answers 400; it is a rate limit all the same.
            return RateLimitError(response.status_code, code, message, body)
        if response.status_code == 403 and not code:
            message = f"{message} (is the API endpoint the account's region?)"
        return error_for(response.status_code, code, message, body)

    # -- account ----------------------------------------------------------------------
    def discover(self) -> dict:
        """Read account-info and move to the account's regional endpoint."""
        info = self.get("/v2/account-info")
        props = {p.get("name"): p.get("value") for p in (info or {}).get("properties", [])}
        endpoint = (props.get("ApiEndpoint") or "").strip().rstrip("/")
        if endpoint.endswith("/v2"):
            endpoint = endpoint[:-3]
        if endpoint:
            self.base_url = endpoint
        self.account = {"id": info.get("id"), "properties": props, "endpoint": self.base_url}
        return self.account

    def iter_pages(self, path: str, *, page_size: int = PAGE_SIZE,
                   params: dict | None = None) -> Iterator[dict]:
        return self.iter_offset(path, page_size=page_size, size_param="select",
                                offset_param="skip", params=params)

    def pages(self, path: str, *, page_size: int = PAGE_SIZE,
              params: dict | None = None) -> Iterator[list[dict]]:
        """iter_pages a page at a time, for callers that store whole pages in one go."""
        return self.iter_offset_pages(path, page_size=page_size, size_param="select",
                                      offset_param="skip", params=params)

    # -- address books ----------------------------------------------------------------
    def address_books(self) -> Iterator[dict]:
        return self.iter_pages("/v2/address-books", page_size=BOOK_PAGE_SIZE)

    def create_address_book(self, name: str, visibility: str = "Private") -> dict:
        return self.post("/v2/address-books", json={"name": name, "visibility": visibility})

    def book_contacts(self, book_id, since: datetime | None = None) -> Iterator[dict]:
        path = f"/v2/address-books/{int(book_id)}/contacts"
        if since is not None:
            path += f"/modified-since/{since_segment(since)}"
        return self.iter_pages(path, params={"withFullData": "true"})

    def book_unsubscribed_since(self, book_id, since: datetime | None) -> Iterator[dict]:
        return self.iter_pages(f"/v2/address-books/{int(book_id)}/contacts/unsubscribed-since/"
                               f"{since_segment(since)}")

    def suppressed_since(self, since: datetime | None) -> Iterator[dict]:
        return self.iter_pages(f"/v2/contacts/suppressed-since/{since_segment(since)}")

    def contact_by_email(self, email: str) -> dict:
        return self.get(f"/v2/contacts/{quote(email, safe='@')}")

    def remove_contacts(self, book_id, contact_ids: list[int]) -> dict:
        return self.post(f"/v2/address-books/{int(book_id)}/contacts/delete",
                         json=[int(i) for i in contact_ids])

    # -- bulk import ------------------------------------------------------------------
    def import_contacts(self, book_id, csv_bytes: bytes,
                        filename: str = "contacts.csv") -> dict:
        media = {"fileName": filename, "data": base64.b64encode(csv_bytes).decode("ascii")}
        return self.post(f"/v2/address-books/{int(book_id)}/contacts/import", json=media)

    def import_status(self, import_id: str) -> dict:
        return self.get(f"/v2/contacts/import/{quote(import_id)}")

    def import_faults(self, import_id: str) -> str:
        response = self.request("GET", f"/v2/contacts/import/{quote(import_id)}/report-faults")
        return response.content.decode("utf-8-sig")

    # -- data fields ------------------------------------------------------------------
    def data_fields(self) -> list[dict]:
        return self.get("/v2/data-fields") or []

    def create_data_field(self, name: str, type_: str, visibility: str = "Private",
                          default=None) -> dict:
        body = {"name": name, "type": type_, "visibility": visibility}
        if default is not None:
            body["defaultValue"] = default
        return self.post("/v2/data-fields", json=body)

    def delete_data_field(self, name: str) -> dict:
        return self.delete(f"/v2/data-fields/{quote(name)}")
