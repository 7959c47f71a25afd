"""Mailchimp Marketing API v3 over HTTP Basic auth (any user, the API key as password).

The base URL is a template: ``MAILCHIMP_API_BASE`` (or the integration's own endpoint) with
``{dc}`` replaced by the API key's datacenter suffix, and ``/3.0`` always appended by this
client. Production: ``https://{dc}.api.mailchimp.com`` → ``https://us21.api.mailchimp.com/3.0``;
the emulator: ``http://127.0.0.1:5102/{dc}`` (datacenter checked) or ``http://127.0.0.1:5102``.
Errors are problem+json documents; their ``title`` becomes the error code.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator

import requests
from flask import current_app

from integrations.http import ApiClient
from integrations.http import ApiError
from integrations.http import RateInfo
from integrations.http import error_for

API_KEY_RE = re.compile(r"^[0-9a-f]{32}-([a-z]+[0-9]+)$")
PAGE_SIZE = 1000  # Mailchimp's maximum ``count``
BATCH_LIMIT = 500  # members per batch subscribe, emails per segment edit
MEMBER_FIELDS = ("members.email_address,members.status,members.id,members.last_changed,"
                 "members.merge_fields,total_items")
BATCH_FIELDS = ("new_members.email_address,new_members.status,new_members.id,"
                "updated_members.email_address,updated_members.status,updated_members.id,"
                "errors,total_created,total_updated,error_count")
SEGMENT_EDIT_FIELDS = "total_added,total_removed,errors,error_count"


class ApiKeyError(ValueError):
    """An API key whose shape says it cannot work; the message is for users."""


def datacenter(api_key: str | None) -> str:
    match = API_KEY_RE.match((api_key or "").strip())
    if not match:
        raise ApiKeyError("The API key must look like 32 hexadecimal characters, a dash and "
                          "the datacenter, e.g. 0123…cdef-us21.")
    return match.group(1)


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def base_url_for(template: str, api_key: str) -> str:
    return template.replace("{dc}", datacenter(api_key)).rstrip("/") + "/3.0"


class MailchimpClient(ApiClient):
    def __init__(self, base_template: str, api_key: str, **kwargs):
        super().__init__(base_url_for(base_template, api_key), **kwargs)
        self.auth = ("listbridge", api_key.strip())

    @classmethod
    def for_integration(cls, integration, **kwargs) -> MailchimpClient:
        kwargs.setdefault("timeout", current_app.config["HTTP_TIMEOUT"])
        base = integration.api_base_url or current_app.config["MAILCHIMP_API_BASE"]
        return cls(base, integration.api_secret or "", **kwargs)

    def worker_copy(self) -> MailchimpClient:
        """The same client with its own connection pool and counters, for another thread."""
        clone = copy.copy(self)
        clone.session = requests.Session()
        clone.calls = clone.retries = 0
        clone.rate = RateInfo()
        return clone

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
        title = detail = ""
        if isinstance(body, dict):
            title = str(body.get("title") or "")
            detail = str(body.get("detail") or "")
            fields = [f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or []
                      if isinstance(e, dict) and e.get("field")]
            if fields:
                detail = f"{detail} ({'; '.join(fields)})"
        message = " — ".join(p for p in (title, detail) if p) \
            or response.text[:300] or response.reason or "error"
        return error_for(response.status_code, title or None, message, body)

    def patch(self, path: str, **kwargs):
        return self.json(self.request("PATCH", path, **kwargs))

    def iter_pages(self, path: str, key: str, params: dict | None = None,
                   page_size: int = PAGE_SIZE) -> Iterator[dict]:
        """Every item of a count/offset collection (record offsets, as the spec says)."""
        return self.iter_offset(path, page_size=page_size, size_param="count",
                                offset_param="offset", params=params,
                                items=lambda body: (body or {}).get(key) or [])

    # -- account and audiences --------------------------------------------------------
    def ping(self) -> str:
        return (self.get("/ping") or {}).get("health_status", "")

    def audiences(self) -> Iterator[dict]:
        return self.iter_pages("/lists", "lists", page_size=100, params={
            "fields": "lists.id,lists.name,lists.stats.member_count,lists.campaign_defaults,"
                      "total_items"})

    def merge_fields(self, audience_id: str) -> list[dict]:
        return list(self.iter_pages(f"/lists/{audience_id}/merge-fields", "merge_fields"))

    def create_merge_field(self, audience_id: str, tag: str, name: str,
                           type_: str = "text") -> dict:
        return self.post(f"/lists/{audience_id}/merge-fields",
                         json={"tag": tag, "name": name, "type": type_, "required": False,
                               "public": False})

    # -- members ----------------------------------------------------------------------
    def members_changed_since(self, audience_id: str, since: str | None) -> Iterator[dict]:
        params = {"fields": MEMBER_FIELDS, "status": "subscribed,unsubscribed,cleaned,pending"}
        if since:
            params["since_last_changed"] = since
        return self.iter_pages(f"/lists/{audience_id}/members", "members", params=params)

    def batch_subscribe(self, audience_id: str, members: list[dict]) -> dict:
        if len(members) > BATCH_LIMIT:
            raise ValueError(f"at most {BATCH_LIMIT} members per call")
        return self.post(f"/lists/{audience_id}",
                         params={"skip_merge_validation": "true", "fields": BATCH_FIELDS},
                         json={"members": members, "update_existing": True}) or {}

    def archive_member(self, audience_id: str, email: str) -> None:
        self.request("DELETE", f"/lists/{audience_id}/members/{subscriber_hash(email)}")

    # -- static segments --------------------------------------------------------------
    def segments(self, audience_id: str) -> Iterator[dict]:
        return self.iter_pages(f"/lists/{audience_id}/segments", "segments",
                               params={"type": "static",
                                       "fields": "segments.id,segments.name,"
                                                 "segments.member_count,segments.type,"
                                                 "total_items"})

    def create_segment(self, audience_id: str, name: str) -> dict:
        return self.post(f"/lists/{audience_id}/segments",
                         json={"name": name, "static_segment": []})

    def rename_segment(self, audience_id: str, segment_id: str, name: str) -> dict:
        return self.patch(f"/lists/{audience_id}/segments/{segment_id}", json={"name": name})

    def edit_segment(self, audience_id: str, segment_id: str, add: list[str] | None = None,
                     remove: list[str] | None = None) -> dict:
        body = {}
        if add:
            body["members_to_add"] = add
        if remove:
            body["members_to_remove"] = remove
        if any(len(v) > BATCH_LIMIT for v in body.values()):
            raise ValueError(f"at most {BATCH_LIMIT} emails per call")
        return self.post(f"/lists/{audience_id}/segments/{segment_id}",
                         params={"fields": SEGMENT_EDIT_FIELDS}, json=body) or {}

    def segment_emails(self, audience_id: str, segment_id: str) -> Iterator[str]:
        for member in self.iter_pages(f"/lists/{audience_id}/segments/{segment_id}/members",
                                      "members", params={
                                          "fields": "members.email_address,total_items",
                                          "include_unsubscribed": "true",
                                          "include_cleaned": "true"}):
            yield member["email_address"].lower()

    # -- campaigns and reports --------------------------------------------------------
    def sent_campaigns(self, audience_id: str, since: str | None) -> Iterator[dict]:
        params = {"status": "sent", "list_id": audience_id, "sort_field": "send_time",
                  "sort_dir": "ASC",
                  "fields": "campaigns.id,campaigns.status,campaigns.send_time,"
                            "campaigns.recipients,campaigns.settings,campaigns.type,total_items"}
        if since:
            params["since_send_time"] = since
        return self.iter_pages("/campaigns", "campaigns", params=params, page_size=100)

    def report(self, campaign_id: str) -> dict:
        return self.get(f"/reports/{campaign_id}") or {}

    def report_rows(self, campaign_id: str, kind: str, key: str,
                    params: dict | None = None) -> Iterator[dict]:
        return self.iter_pages(f"/reports/{campaign_id}/{kind}", key, params=params)
