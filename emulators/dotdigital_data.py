"""Account state and business rules of the Dotdigital v2 emulator (``emulators/dotdigital.py``).

Everything lives in memory. The Flask views hold ``DotdigitalState.lock`` for the whole call,
so each API call is atomic, like one database transaction on the real service. Methods here
return JSON-ready dicts and lists in the API's camelCase wire format, or raise ``ApiError``.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import math
import re
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime

DEFAULT_USERNAME = "demo@apiconnector.com"
DEFAULT_PASSWORD = "demo-password-1"

DEFAULT_SETTINGS = {
    "rate_limit_per_hour": 2000,
    "rate_limit_window_seconds": 3600,
    # "tiered" answers 429 over the limit; "flat" is the legacy 400 ERROR_APIUSAGE_EXCEEDED.
    "rate_limit_mode": "tiered",
    "rate_limit_scope": "Default",
    "import_polls_before_finish": 1,
    # When set, imports finish on the clock instead of after a number of status polls.
    "import_finish_after_seconds": None,
    "max_active_imports": 25,
    "api_endpoint": None,
}

OPT_IN_TYPES = ("Unknown", "Single", "Double", "VerifiedDouble")
EMAIL_TYPES = ("PlainText", "Html")
VISIBILITIES = ("Private", "Public")
DATA_TYPES = ("String", "Numeric", "Date", "Boolean")
MERGE_OPTIONS = ("Overwrite", "OnlyOverwriteIfNotEmpty", "OnlyOverwriteIfContactDataNotPopulated")
CONTACT_STATUSES = (
    "Subscribed", "Unsubscribed", "SoftBounced", "HardBounced", "IspComplained", "MailBlocked",
    "PendingOptIn", "DirectComplaint", "Deleted", "SharedSuppression", "Suppressed", "NotAllowed",
    "DomainSuppression", "NoMxRecord")
CAMPAIGN_STATUSES = (
    "Unsent", "Sending", "Sent", "Paused", "Cancelled", "RequiresSystemApproval",
    "RequiresSMSApproval", "RequiresWorkflowApproval", "Triggered")
IMPORT_OUTCOMES = ("Finished", "NotFinished", "RejectedByWatchdog", "InvalidFileFormat",
                   "Unknown", "Failed", "ExceedsAllowedContactLimit")
# Statuses that still receive mail; anything else is a suppression an import must not undo.
MAILABLE = frozenset({"Subscribed", "SoftBounced", "PendingOptIn"})
SYSTEM_BOOKS = ("Test", "All Contacts")
DEFAULT_DATA_FIELDS = ("FIRSTNAME", "LASTNAME", "FULLNAME", "GENDER", "POSTCODE")

# Faults CSV reason and report counter for each suppressed status met during an import.
SUPPRESSION_FAULTS = {
    "Unsubscribed": ("Unsubscribed", "unsubscribed"),
    "HardBounced": ("Hard bounced", "hardBounced"),
    "IspComplained": ("ISP complaint", "ispComplaints"),
    "DirectComplaint": ("ISP complaint", "ispComplaints"),
    "MailBlocked": ("Mail blocked", "mailBlocked"),
    "DomainSuppression": ("Domain suppressed", "domainSuppressed"),
}
REPORT_KEYS = (
    "newContacts", "updatedContacts", "globallySuppressed", "invalidEntries", "duplicateEmails",
    "blocked", "unsubscribed", "hardBounced", "softBounced", "ispComplaints", "mailBlocked",
    "domainSuppressed", "pendingDoubleOptin", "failures", "suppressedContacts")
ACTIVITY_COUNTS = ("numOpens", "numPageViews", "numClicks", "numForwards",
                   "numEstimatedForwards", "numReplies")
ACTIVITY_FLAGS = ("unsubscribed", "softBounced", "hardBounced")
SUMMARY_INT_FIELDS = (
    "numUniqueOpens", "numUniqueTextOpens", "numTotalUniqueOpens", "numOpens", "numTextOpens",
    "numTotalOpens", "numClicks", "numTextClicks", "numTotalClicks", "numPageViews",
    "numTotalPageViews", "numTextPageViews", "numForwards", "numTextForwards",
    "numEstimatedForwards", "numTextEstimatedForwards", "numTotalEstimatedForwards", "numReplies",
    "numTextReplies", "numTotalReplies", "numHardBounces", "numTextHardBounces",
    "numTotalHardBounces", "numSoftBounces", "numTextSoftBounces", "numTotalSoftBounces",
    "numUnsubscribes", "numTextUnsubscribes", "numTotalUnsubscribes", "numIspComplaints",
    "numTextIspComplaints", "numTotalIspComplaints", "numMailBlocks", "numTextMailBlocks",
    "numTotalMailBlocks", "numSent", "numTextSent", "numTotalSent", "numRecipientsClicked",
    "numDelivered", "numTextDelivered", "numTotalDelivered",
)

EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
DATA_FIELD_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
MIN_DATE = datetime(1, 1, 1, tzinfo=UTC)


class ApiError(Exception):
    """An error answer: ``status`` plus the ``{"message": ...}`` text Dotdigital sends."""

    def __init__(self, status: int, message: str, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body

    def payload(self) -> dict:
        return self.body if self.body is not None else {"message": self.message}


def error(code: str, status: int = 400, text: str = "Error:") -> ApiError:
    return ApiError(status, f"{text} {code}")


def now() -> datetime:
    return datetime.now(UTC)


def parse_date(text) -> datetime | None:
    """Read the date forms clients send: date, date-time, ``Z``, ``±hh:mm`` and ``±hhmm``."""
    if isinstance(text, datetime):
        value = text
    else:
        try:
            value = datetime.fromisoformat(str(text).strip())
        except ValueError:
            return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def fmt_date(value: datetime | None) -> str:
    # .NET sends DateTime.MinValue for dates that never happened; the spec makes them required.
    value = value or MIN_DATE
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ci(body) -> dict:
    """Lower-case the keys: the real server binds JSON members case-insensitively."""
    if not isinstance(body, dict):
        raise error("ERROR_MALFORMED_REQUEST")
    return {str(key).lower(): value for key, value in body.items()}


def enum_value(value, allowed: tuple, code: str, default=None):
    if value is None or value == "":
        return default
    for name in allowed:
        if str(value).lower() == name.lower():
            return name
    # .NET also binds an enum from its ordinal.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(allowed):
        return allowed[value]
    if isinstance(value, str) and value.isdigit() and int(value) < len(allowed):
        return allowed[int(value)]
    raise error(code)


def coerce(field_type: str, value):
    """Convert a value to the data field's type; ValueError when it cannot be."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if field_type == "Numeric":
        if isinstance(value, bool):
            raise ValueError(value)
        number = value if isinstance(value, (int, float)) else float(str(value).strip())
        if not math.isfinite(number):
            raise ValueError(value)
        return int(number) if float(number).is_integer() else number
    if field_type == "Boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1"):
            return True
        if text in ("false", "no", "0"):
            return False
        raise ValueError(value)
    if field_type == "Date":
        parsed = parse_date(value)
        if parsed is None:
            raise ValueError(value)
        return parsed.strftime("%Y-%m-%dT%H:%M:%S")
    return str(value)


def valid_email(email) -> bool:
    return isinstance(email, str) and len(email) <= 254 and bool(EMAIL_RE.match(email))


class LazyRows(Sequence):
    """Rows rendered only when a page (a slice) is taken: paging a big list stays cheap."""

    def __init__(self, keys: list, render):
        self.keys, self.render = keys, render

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.render(k) for k in self.keys[index]]
        return self.render(self.keys[index])


class DotdigitalState:
    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    # ----------------------------------------------------------------- lifecycle / seed
    def reset(self) -> None:
        with self.lock:
            self.users = {DEFAULT_USERNAME: DEFAULT_PASSWORD}
            self.settings = dict(DEFAULT_SETTINGS)
            self.account = {"id": 409001, "name": "Listbridge Demo",
                            "main_email": "owner@example.com"}
            self._ids = {"book": itertools.count(2000), "contact": itertools.count(5000),
                         "campaign": itertools.count(300)}
            self.books: dict[int, dict] = {}
            self.contacts: dict[int, dict] = {}
            self.by_email: dict[str, int] = {}
            self.data_fields: dict[str, dict] = {}
            self.campaigns: dict[int, dict] = {}
            self.activities: dict[tuple[int, int], dict] = {}
            # campaign id -> {contact id: activity row}: pages of big campaigns stay cheap.
            self.campaign_activities: dict[int, dict[int, dict]] = {}
            # Paging a campaign of a million rows must not cost the client's run: its live
            # contacts' ids are kept sorted, and each row's JSON is rendered once, at seed time.
            self.activity_ids: dict[int, list[int]] = {}
            self.activity_texts: dict[tuple[int, int], tuple[dict, str, str]] = {}
            self.opens: list[dict] = []
            self.clicks: list[dict] = []
            self.imports: dict[str, dict] = {}
            self.deletions: dict[str, dict] = {}
            self.outcomes: deque[dict] = deque()
            self.window_start: float | None = None
            self.window_calls = 0
            for name in SYSTEM_BOOKS:
                self._new_book(name, "Private", system=True)
            for name in DEFAULT_DATA_FIELDS:
                self.data_fields[name] = {"name": name, "type": "String", "visibility": "Private",
                                          "defaultValue": None, "system": True, "dependencies": []}

    def _next_id(self, kind: str, wanted=None) -> int:
        if wanted is None:
            return next(self._ids[kind])
        wanted = int(wanted)
        counter = self._ids[kind]
        probe = next(counter)
        # Keep generated ids clear of ids a seed chose.
        self._ids[kind] = itertools.count(max(probe, wanted + 1))
        return wanted

    def seed(self, data: dict) -> dict:
        """Add users, settings and records on top of the current state (see the app docstring)."""
        with self.lock:
            users = data.get("users") or {}
            if isinstance(users, list):
                users = {u["username"]: u["password"] for u in users}
            self.users.update(users)
            unknown = set(data.get("settings") or {}) - set(DEFAULT_SETTINGS)
            if unknown:
                raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
            self.settings.update(data.get("settings") or {})
            self.account.update(data.get("account") or {})
            for field in data.get("data_fields") or []:
                self.create_data_field(field)
                if field.get("dependencies"):
                    self.data_fields[field["name"].upper()]["dependencies"] = field["dependencies"]
            books = {}
            for book in data.get("address_books") or []:
                created = self._new_book(book["name"], book.get("visibility", "Private"),
                                         wanted=book.get("id"))
                books[created["name"]] = created["id"]
            contacts = {c["email"]: self._seed_contact(c)["id"]
                        for c in data.get("contacts") or []}
            campaigns = {c["name"]: self._seed_campaign(c)["id"]
                         for c in data.get("campaigns") or []}
            for row in data.get("activities") or []:
                self._seed_activity(row)
            for kind, target, date_key in (("opens", self.opens, "dateOpened"),
                                           ("clicks", self.clicks, "dateClicked")):
                for row in data.get(kind) or []:
                    campaign, contact = self._event_refs(row)
                    event = {k: v for k, v in row.items() if k not in ("campaign", "email")}
                    event.update(campaign_id=campaign["id"], contact_id=contact["id"],
                                 at=parse_date(row.get(date_key)) or now())
                    target.append(event)
            return {"address_books": books, "contacts": contacts, "campaigns": campaigns}

    def _seed_contact(self, spec: dict) -> dict:
        spec = dict(spec)
        if isinstance(spec.get("dataFields"), dict):
            spec["dataFields"] = [{"key": k, "value": v} for k, v in spec["dataFields"].items()]
        contact, _ = self.upsert_contact(spec, wanted_id=spec.get("id"))
        status = enum_value(spec.get("status"), CONTACT_STATUSES, "ERROR_CONTACT_INVALID")
        stamp = parse_date(spec["created"]) if spec.get("created") else None
        if stamp:
            contact["created"] = contact["modified"] = stamp
        if spec.get("modified"):
            contact["modified"] = parse_date(spec["modified"])
        if status:
            contact["status"] = status
            if status not in MAILABLE:
                contact["removed"] = parse_date(spec.get("dateRemoved")) or now()
        for ref in spec.get("address_books") or []:
            self.book_ref(ref)["members"][contact["id"]] = contact["modified"]
        for ref in spec.get("unsubscribed_from") or []:
            book = self.book_ref(ref)
            book["members"].pop(contact["id"], None)
            book["unsubscribed"][contact["id"]] = (
                parse_date(spec.get("dateRemoved")) or now(), "Unsubscribed")
        return contact

    def _seed_campaign(self, spec: dict) -> dict:
        status = enum_value(spec.get("status"), CAMPAIGN_STATUSES, "ERROR_CAMPAIGN_INVALID", "Sent")
        campaign = {
            "id": self._next_id("campaign", spec.get("id")),
            "name": spec["name"],
            "subject": spec.get("subject") or spec["name"],
            "fromName": spec.get("fromName", "Listbridge"),
            "fromAddress": spec.get("fromAddress", {"id": 1, "email": "news@example.com"}),
            "htmlContent": spec.get("htmlContent", "<html><body>$UNSUB$</body></html>"),
            "plainTextContent": spec.get("plainTextContent", "$UNSUB$"),
            "replyAction": spec.get("replyAction", "Unset"),
            "replyToAddress": spec.get("replyToAddress", ""),
            "isSplitTest": bool(spec.get("isSplitTest", False)),
            "status": status,
            "customReplyToAddress": spec.get("customReplyToAddress"),
            "book_ids": [self.book_ref(ref)["id"] for ref in spec.get("address_books") or []],
            "date_sent": parse_date(spec.get("dateSent")) or (now() if status == "Sent" else None),
            "summary": dict(spec.get("summary") or {}),
        }
        self.campaigns[campaign["id"]] = campaign
        return campaign

    def _event_refs(self, row: dict) -> tuple[dict, dict]:
        keys = ci(row)
        ref = next((keys[k] for k in ("campaign", "campaignid", "campaign_id") if k in keys), None)
        campaign = self.campaign_ref(ref)
        if keys.get("contactid") is not None:
            contact = self.find_contact(str(keys["contactid"]))
        else:
            email = str(keys.get("email", "")).lower()
            contact = (self.contacts[self.by_email[email]] if email in self.by_email
                       else self.upsert_contact({"email": email})[0])
        return campaign, contact

    def _seed_activity(self, row: dict) -> None:
        campaign, contact = self._event_refs(row)
        record = {key: int(row.get(key, 0)) for key in ACTIVITY_COUNTS}
        record.update({key: bool(row.get(key, False)) for key in ACTIVITY_FLAGS})
        record["firstOpenIp"] = row.get("firstOpenIp", "")
        record["dateSent"] = parse_date(row.get("dateSent")) or campaign["date_sent"] or now()
        for key in ("dateFirstOpened", "dateLastOpened"):
            record[key] = parse_date(row[key]) if row.get(key) else None
        self.activities[(campaign["id"], contact["id"])] = record
        by_contact = self.campaign_activities.setdefault(campaign["id"], {})
        if contact["id"] not in by_contact:
            self.activity_ids.pop(campaign["id"], None)
        by_contact[contact["id"]] = record
        self.activity_text(campaign["id"], contact["id"], record)

    # ----------------------------------------------------------------- rate limiting
    def take_call(self, at: float) -> bool:
        """Count one call in the current fixed window; False when the limit is used up."""
        window = self.settings["rate_limit_window_seconds"]
        if self.window_start is None or at - self.window_start >= window:
            self.window_start, self.window_calls = at, 0
        if self.window_calls >= self.settings["rate_limit_per_hour"]:
            return False
        self.window_calls += 1
        return True

    def rate_headers(self, at: float) -> dict:
        limit = self.settings["rate_limit_per_hour"]
        window = self.settings["rate_limit_window_seconds"]
        started = self.window_start if self.window_start is not None else at
        calls = self.window_calls if at - started < window else 0
        reset = max(0, math.ceil(started + window - at)) if calls else window
        return {"X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - calls)),
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Scope": self.settings["rate_limit_scope"]}

    # ----------------------------------------------------------------- address books
    def _new_book(self, name: str, visibility: str, *, system=False, wanted=None) -> dict:
        book = {"id": self._next_id("book", wanted), "name": name,
                "visibility": enum_value(visibility, VISIBILITIES, "ERROR_ADDRESSBOOK_INVALID"),
                "system": system, "members": {}, "unsubscribed": {}}
        self.books[book["id"]] = book
        return book

    def book_json(self, book: dict) -> dict:
        count = len(self.contacts) if book["name"] == "All Contacts" and book["system"] else len(
            book["members"])
        return {"id": book["id"], "name": book["name"], "visibility": book["visibility"],
                "contacts": count}

    def book(self, book_id) -> dict:
        try:
            return self.books[int(book_id)]
        except (KeyError, ValueError):
            raise error("ERROR_ADDRESSBOOK_NOT_FOUND", 404) from None

    def book_ref(self, ref) -> dict:
        if isinstance(ref, int) or str(ref).isdigit():
            return self.book(ref)
        for book in self.books.values():
            if book["name"].lower() == str(ref).lower():
                return book
        raise error("ERROR_ADDRESSBOOK_NOT_FOUND", 404)

    def writable_book(self, book_id) -> dict:
        book = self.book(book_id)
        if book["system"] and book["name"] == "All Contacts":
            raise ApiError(400, "Address book cannot be written to via the API. "
                                "ERROR_ADDRESSBOOK_NOTWRITABLE")
        return book

    def _book_fields(self, body) -> tuple[str, str]:
        data = ci(body)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise error("ERROR_ADDRESSBOOK_INVALID")
        visibility = enum_value(data.get("visibility"), VISIBILITIES, "ERROR_ADDRESSBOOK_INVALID",
                                "Private")
        return name.strip(), visibility

    def _check_unique(self, name: str, skip_id=None) -> None:
        if any(b["name"].lower() == name.lower() and b["id"] != skip_id
               for b in self.books.values()):
            raise error("ERROR_ADDRESSBOOK_DUPLICATE")

    def create_book(self, body) -> dict:
        name, visibility = self._book_fields(body)
        self._check_unique(name)
        return self.book_json(self._new_book(name, visibility))

    def update_book(self, book_id, body) -> dict:
        book = self.book(book_id)
        if book["system"]:
            raise error("ERROR_ADDRESSBOOK_NOTWRITABLE")
        name, visibility = self._book_fields(body)
        self._check_unique(name, skip_id=book["id"])
        book.update(name=name, visibility=visibility)
        return self.book_json(book)

    def delete_book(self, book_id) -> None:
        book = self.book(book_id)
        if book["system"]:
            raise error("ERROR_ADDRESSBOOK_NOTWRITABLE")
        del self.books[book["id"]]

    def book_contacts(self, book: dict) -> list[dict]:
        if book["system"] and book["name"] == "All Contacts":
            return sorted(self.contacts.values(), key=lambda c: c["id"])
        return [self.contacts[cid] for cid in sorted(book["members"]) if cid in self.contacts]

    def book_campaigns(self, book: dict) -> list[dict]:
        return [c for c in self.sorted_campaigns() if book["id"] in c["book_ids"]]

    # ----------------------------------------------------------------- contacts
    def contact_json(self, contact: dict, full: bool = True) -> dict:
        fields = None
        if full:
            fields = [{"key": name, "value": contact["fields"].get(name)}
                      for name in sorted(self.data_fields)]
        return {"id": contact["id"], "email": contact["email"], "optInType": contact["optInType"],
                "emailType": contact["emailType"], "dataFields": fields,
                "status": contact["status"]}

    def find_contact(self, ident: str) -> dict:
        ident = str(ident).strip()
        contact_id = int(ident) if ident.isdigit() else self.by_email.get(ident.lower())
        if contact_id not in self.contacts:
            raise error("ERROR_CONTACT_NOT_FOUND", 404)
        return self.contacts[contact_id]

    def _api_fields(self, raw) -> dict:
        values = {}
        for item in raw or []:
            item = ci(item)
            name = str(item.get("key") or "").upper()
            if name not in self.data_fields:
                raise ApiError(400, f"Data field {name or '(blank)'} does not exist. "
                                    "ERROR_DATAFIELD_NOTFOUND")
            try:
                values[name] = coerce(self.data_fields[name]["type"], item.get("value"))
            except ValueError:
                raise ApiError(400, f"Value for data field {name} does not match its type. "
                                    "ERROR_CONTACT_INVALID") from None
        return values

    def upsert_contact(self, body, wanted_id=None) -> tuple[dict, bool]:
        """Create or update a contact from an ApiContact body. Never lifts a suppression."""
        data = ci(body)
        email = str(data.get("email") or "").strip().lower()
        if not valid_email(email):
            raise ApiError(400, "Email is not valid. ERROR_CONTACT_INVALID")
        fields = self._api_fields(data.get("datafields"))
        opt_in = enum_value(data.get("optintype"), OPT_IN_TYPES, "ERROR_CONTACT_INVALID")
        email_type = enum_value(data.get("emailtype"), EMAIL_TYPES, "ERROR_CONTACT_INVALID")
        stamp = now()
        contact = self.contacts.get(self.by_email.get(email))
        created = contact is None
        if created:
            contact = {"id": self._next_id("contact", wanted_id), "email": email,
                       "optInType": opt_in or "Unknown", "emailType": email_type or "Html",
                       "status": "PendingOptIn" if opt_in == "Double" else "Subscribed",
                       "fields": {}, "created": stamp, "modified": stamp, "removed": None}
            self.contacts[contact["id"]] = contact
            self.by_email[email] = contact["id"]
        else:
            contact["optInType"] = opt_in or contact["optInType"]
            contact["emailType"] = email_type or contact["emailType"]
            contact["modified"] = stamp
        contact["fields"].update(fields)
        return contact, created

    def update_contact(self, contact_id, body) -> dict:
        contact = self.find_contact(str(contact_id))
        data = ci(body)
        email = str(data.get("email") or contact["email"]).strip().lower()
        if email != contact["email"]:
            if not valid_email(email):
                raise ApiError(400, "Email is not valid. ERROR_CONTACT_INVALID")
            if email in self.by_email:
                raise error("ERROR_NON_UNIQUE_EMAIL")
            del self.by_email[contact["email"]]
            self.by_email[email] = contact["id"]
            contact["email"] = email
        data["email"] = email
        return self.upsert_contact(data)[0]

    def delete_contact(self, contact_id) -> None:
        contact = self.find_contact(str(contact_id))
        del self.contacts[contact["id"]]
        self.activity_ids.clear()  # the deleted contact leaves every campaign's rows
        del self.by_email[contact["email"]]
        for book in self.books.values():
            book["members"].pop(contact["id"], None)

    def add_to_book(self, book: dict, body) -> dict:
        email = str(ci(body).get("email") or "").strip().lower()
        existing = self.contacts.get(self.by_email.get(email))
        if existing and existing["status"] not in MAILABLE:
            raise ApiError(400, "Contact is suppressed. ERROR_CONTACT_SUPPRESSED")
        if existing and existing["id"] in book["unsubscribed"]:
            raise ApiError(400, "Contact is suppressed for this address book. "
                                "ERROR_CONTACT_SUPPRESSEDFORADDRESSBOOK")
        contact, _ = self.upsert_contact(body)
        book["members"].setdefault(contact["id"], now())
        return contact

    def remove_from_book(self, book: dict, contact_id) -> None:
        contact = self.find_contact(str(contact_id))
        if book["members"].pop(contact["id"], None) is None:
            raise error("ERROR_CONTACT_NOT_FOUND", 404)

    def bulk_remove(self, book: dict, ids) -> dict:
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise error("ERROR_MALFORMED_REQUEST")
        for contact_id in ids:
            book["members"].pop(contact_id, None)
        deletion = {"id": str(uuid.uuid4()), "status": "Started"}
        # Removal happens at once; the id reports Completed from the first status check on.
        self.deletions[deletion["id"]] = {"id": deletion["id"], "status": "Completed"}
        return deletion

    def deletion(self, deletion_id: str) -> dict:
        if deletion_id not in self.deletions:
            raise error("ERROR_DELETION_NOT_FOUND", 404)
        return self.deletions[deletion_id]

    def unsubscribe(self, body, book: dict | None = None) -> dict:
        contact = self.find_contact(str(ci(body).get("email") or ""))
        stamp = now()
        if book is None:
            contact.update(status="Unsubscribed", removed=stamp, modified=stamp)
        else:
            book["members"].pop(contact["id"], None)
            book["unsubscribed"][contact["id"]] = (stamp, "Unsubscribed")
        return self._suppression(contact, stamp, "Unsubscribed")

    def _suppression(self, contact: dict, when: datetime, reason: str) -> dict:
        return {"suppressedContact": self.contact_json(contact, full=False),
                "dateRemoved": fmt_date(when), "reason": reason}

    def modified_since(self, since: datetime, book: dict | None = None) -> list[dict]:
        if book is None:
            return [c for c in sorted(self.contacts.values(), key=lambda c: c["id"])
                    if c["modified"] >= since]
        members = book["members"]
        # A contact newly added to the book counts as modified for that book.
        return [c for c in self.book_contacts(book)
                if max(c["modified"], members.get(c["id"], MIN_DATE)) >= since]

    def suppressed_since(self, since: datetime, book: dict | None = None,
                         reasons: frozenset | None = None) -> list[dict]:
        rows = []
        pool = self.book_contacts(book) if book else self.contacts.values()
        for contact in pool:
            if contact["status"] not in MAILABLE and (reasons is None
                                                      or contact["status"] in reasons):
                rows.append((contact["removed"] or MIN_DATE, contact, contact["status"]))
        for contact_id, (when, reason) in (book or {}).get("unsubscribed", {}).items():
            if contact_id in self.contacts:
                rows.append((when, self.contacts[contact_id], reason))
        rows = [row for row in rows if row[0] >= since]
        rows.sort(key=lambda row: (row[0], row[1]["id"]))
        return [self._suppression(contact, when, reason) for when, contact, reason in rows]

    # ----------------------------------------------------------------- data fields
    def field_json(self, field: dict) -> dict:
        return {k: field[k] for k in ("name", "type", "visibility", "defaultValue")}

    def create_data_field(self, body) -> dict:
        data = ci(body)
        name = data.get("name")
        if not isinstance(name, str) or not DATA_FIELD_NAME_RE.match(name):
            raise ApiError(400, "Data field name is not valid. ERROR_DATAFIELD_INVALID")
        name = name.upper()
        if name in self.data_fields:
            raise ApiError(400, "Field already exists. ERROR_NON_UNIQUE_DATAFIELD")
        kind = enum_value(data.get("type"), DATA_TYPES, "ERROR_DATAFIELD_INVALID", "String")
        try:
            default = coerce(kind, data.get("defaultvalue"))
        except ValueError:
            raise ApiError(400, "Default value does not match the field type. "
                                "ERROR_DATAFIELD_INVALID") from None
        field = {"name": name, "type": kind, "defaultValue": default, "system": False,
                 "visibility": enum_value(data.get("visibility"), VISIBILITIES,
                                          "ERROR_DATAFIELD_INVALID", "Private"),
                 "dependencies": []}
        self.data_fields[name] = field
        return self.field_json(field)

    def delete_data_field(self, name: str) -> dict:
        field = self.data_fields.get(name.upper())
        if field is None:
            raise error("ERROR_DATAFIELD_NOTFOUND", 404)
        if field["system"]:
            raise ApiError(409, "conflict", body={
                "type": "https://tools.ietf.org/html/rfc7231#section-6.5.8", "title": "Conflict",
                "status": 409, "detail": f"{field['name']} is a default data field and cannot "
                                         "be deleted."})
        if field["dependencies"]:
            return {"dependencies": field["dependencies"], "result": False}
        del self.data_fields[field["name"]]
        for contact in self.contacts.values():
            contact["fields"].pop(field["name"], None)
        return {"dependencies": [], "result": True}

    # ----------------------------------------------------------------- campaigns
    def sorted_campaigns(self) -> list[dict]:
        return [self.campaigns[cid] for cid in sorted(self.campaigns)]

    def campaign_ref(self, ref) -> dict:
        if isinstance(ref, int) or str(ref).isdigit():
            if int(ref) in self.campaigns:
                return self.campaigns[int(ref)]
        else:
            for campaign in self.campaigns.values():
                if campaign["name"] == ref:
                    return campaign
        raise error("ERROR_CAMPAIGN_NOT_FOUND", 404)

    @staticmethod
    def campaign_json(campaign: dict) -> dict:
        return {k: v for k, v in campaign.items() if k not in ("book_ids", "date_sent", "summary")}

    @staticmethod
    def _last_activity(row: dict, last_event: datetime | None) -> datetime:
        stamps = [row["dateSent"], row["dateFirstOpened"], row["dateLastOpened"], last_event]
        return max(s for s in stamps if s is not None)

    def _last_events(self, campaign_id: int) -> dict[int, datetime]:
        """Contact id -> the time of its latest open or click of the campaign."""
        latest: dict[int, datetime] = {}
        for event in itertools.chain(self.opens, self.clicks):
            if event["campaign_id"] == campaign_id and event["at"] > latest.get(
                    event["contact_id"], MIN_DATE):
                latest[event["contact_id"]] = event["at"]
        return latest

    def activities_for(self, campaign: dict, since: datetime | None = None) -> LazyRows:
        """The campaign's contact summaries as JSON texts, in contact id order."""
        by_contact = self.campaign_activities.get(campaign["id"], {})
        ids = self.activity_ids.get(campaign["id"])
        if ids is None:
            ids = self.activity_ids[campaign["id"]] = [
                contact_id for contact_id in sorted(by_contact) if contact_id in self.contacts]
        if since is not None:
            latest = self._last_events(campaign["id"])
            ids = [contact_id for contact_id in ids if self._last_activity(
                by_contact[contact_id], latest.get(contact_id)) >= since]
        return LazyRows(ids, lambda contact_id: self.activity_text(
            campaign["id"], contact_id, by_contact[contact_id]))

    def activity_text(self, campaign_id: int, contact_id: int, row: dict) -> str:
        """The row's JSON, rendered again only when the row or the contact's email changed."""
        email = self.contacts[contact_id]["email"]
        cached = self.activity_texts.get((campaign_id, contact_id))
        if cached is None or cached[0] is not row or cached[1] != email:
            # Compact, unsorted: what the app's jsonify would send for the same dict.
            text = json.dumps(self.activity_json(contact_id, row), separators=(",", ":"))
            cached = self.activity_texts[(campaign_id, contact_id)] = (row, email, text)
        return cached[2]

    def activity_json(self, contact_id: int, row: dict) -> dict:
        body = {"contactId": contact_id, "email": self.contacts[contact_id]["email"]}
        body.update({key: row[key] for key in ACTIVITY_COUNTS})
        body.update({key: fmt_date(row[key])
                     for key in ("dateSent", "dateFirstOpened", "dateLastOpened")})
        body["firstOpenIp"] = row["firstOpenIp"]
        body.update({key: row[key] for key in ACTIVITY_FLAGS})
        return body

    def events_for(self, kind: str, campaign: dict, since: datetime | None = None) -> list[dict]:
        if kind == "opens":
            events, date_key = self.opens, "dateOpened"
            defaults = {"mailClient": None, "mailClientVersion": None, "ipAddress": None,
                        "userAgent": None, "isHtml": True, "isForward": False}
        else:
            events, date_key = self.clicks, "dateClicked"
            defaults = {"url": None, "ipAddress": None, "userAgent": None, "keyword": None}
        rows = []
        for event in sorted(events, key=lambda e: e["at"]):
            if event["campaign_id"] != campaign["id"] or (since and event["at"] < since):
                continue
            contact = self.contacts.get(event["contact_id"])
            body = {"contactId": event["contact_id"], "email": contact and contact["email"]}
            body.update({key: event.get(key, value) for key, value in defaults.items()})
            body[date_key] = fmt_date(event["at"])
            rows.append(body)
        return rows

    def campaigns_with_activity_since(self, since: datetime) -> list[dict]:
        active = {e["campaign_id"] for e in self.opens + self.clicks if e["at"] >= since}
        active |= {cid for (cid, contact_id), row in self.activities.items()
                   if (row["dateLastOpened"] or MIN_DATE) >= since}
        return [c for c in self.sorted_campaigns() if c["id"] in active and c["status"] == "Sent"]

    def summary(self, campaign: dict) -> dict:
        rows = list(self.campaign_activities.get(campaign["id"], {}).values())
        count = {
            "numSent": len(rows),
            "numHardBounces": sum(r["hardBounced"] for r in rows),
            "numSoftBounces": sum(r["softBounced"] for r in rows),
            "numUnsubscribes": sum(r["unsubscribed"] for r in rows),
            "numUniqueOpens": sum(r["numOpens"] > 0 for r in rows),
            "numRecipientsClicked": sum(r["numClicks"] > 0 for r in rows),
        }
        for key in ("numOpens", "numClicks", "numPageViews", "numForwards", "numEstimatedForwards",
                    "numReplies"):
            count[key] = sum(r[key] for r in rows)
        count["numDelivered"] = count["numSent"] - count["numHardBounces"] - count["numSoftBounces"]
        body = {"dateSent": fmt_date(campaign["date_sent"])}
        body.update({key: int(count.get(key, 0)) for key in SUMMARY_INT_FIELDS})
        for key, value in count.items():
            # The emulator has no plain-text opens, so the HTML count is also the total.
            total = key.replace("num", "numTotal", 1)
            if total in body:
                body[total] = int(value)

        def pct(part, whole):
            return round(100.0 * part / whole, 2) if whole else 0.0

        sent, delivered = count["numSent"], count["numDelivered"]
        body.update({
            "percentageDelivered": pct(delivered, sent),
            "percentageUniqueOpens": pct(count["numUniqueOpens"], delivered),
            "percentageOpens": pct(count["numOpens"], delivered),
            "percentageUnsubscribes": pct(count["numUnsubscribes"], delivered),
            "percentageReplies": pct(count["numReplies"], delivered),
            "percentageHardBounces": pct(count["numHardBounces"], sent),
            "percentageSoftBounces": pct(count["numSoftBounces"], sent),
            "percentageUsersClicked": pct(count["numRecipientsClicked"], delivered),
            "percentageClicksToOpens": pct(count["numRecipientsClicked"], count["numUniqueOpens"]),
            "revenue": None, "conversionRate": 0.0, "assistedRevenue": None,
            "numOrders": 0, "numAssistedOrders": 0,
        })
        body.update({k: v for k, v in campaign["summary"].items() if k in body})
        return body

    # ----------------------------------------------------------------- bulk imports
    def create_import(self, book: dict | None, filename: str, raw: bytes,
                      merge: str = "Overwrite") -> dict:
        """Accept an uploaded file; the rows are applied only when the import finishes."""
        active = sum(1 for imp in self.imports.values() if imp["status"] == "NotFinished")
        if active >= self.settings["max_active_imports"]:
            raise error("ERROR_IMPORT_TOOMANYACTIVEIMPORTS")
        header, rows = None, []
        if filename.lower().endswith((".csv", ".txt")):
            try:
                table = [row for row in csv.reader(io.StringIO(raw.decode("utf-8-sig")))
                         if any(cell.strip() for cell in row)]
            except (UnicodeDecodeError, csv.Error):
                table = None
            if table is not None:
                header = [cell.strip() for cell in table[0]] if table else []
                rows = table[1:]
                if "email" not in [cell.lower() for cell in header]:
                    raise ApiError(400, "The file has no Email column. ERROR_NO_EMAIL_COLUMN")
        outcome = self.outcomes.popleft() if self.outcomes else {}
        target = outcome.get("status") or ("Finished" if header is not None
                                           else "InvalidFileFormat")
        polls = outcome.get("polls")
        seconds = self.settings["import_finish_after_seconds"]
        created = now()
        imp = {"id": str(uuid.uuid4()), "status": "NotFinished", "target": target,
               "book_id": book and book["id"], "filename": filename, "merge": merge,
               "header": header or [], "rows": rows, "created": created, "polls": 0,
               "polls_before_finish": (self.settings["import_polls_before_finish"]
                                       if polls is None else int(polls)),
               "finish_at": (created.timestamp() + seconds) if seconds is not None
               and polls is None else None,
               "report": None, "faults": []}
        self.imports[imp["id"]] = imp
        return self.import_json(imp)

    @staticmethod
    def import_json(imp: dict) -> dict:
        return {"id": imp["id"], "status": imp["status"]}

    def find_import(self, import_id: str) -> dict:
        if import_id not in self.imports:
            raise error("ERROR_IMPORT_NOT_FOUND", 404)
        return self.imports[import_id]

    def poll_import(self, import_id: str) -> dict:
        imp = self.find_import(import_id)
        if imp["status"] == "NotFinished" and imp["target"] != "NotFinished":
            imp["polls"] += 1
            due = (now().timestamp() >= imp["finish_at"] if imp["finish_at"] is not None
                   else imp["polls"] > imp["polls_before_finish"])
            if due:
                self.finish_import(imp)
        return self.import_json(imp)

    def settle_due_imports(self) -> None:
        """Finish clock-driven imports whose time has come, whether or not anyone polled."""
        stamp = now().timestamp()
        for imp in self.imports.values():
            if (imp["status"] == "NotFinished" and imp["target"] != "NotFinished"
                    and imp["finish_at"] is not None and stamp >= imp["finish_at"]):
                self.finish_import(imp)

    def set_outcome(self, spec: dict) -> dict:
        """Script the next imports' outcome, or settle an existing import right away."""
        status = enum_value(spec.get("status"), IMPORT_OUTCOMES, "ERROR_PARAMETER_INVALID")
        if status is None:
            raise ValueError("status is required")
        if spec.get("import_id"):
            imp = self.find_import(spec["import_id"])
            imp["target"] = status
            if status != "NotFinished" and imp["status"] == "NotFinished":
                self.finish_import(imp)
            return {"import": self.import_json(imp)}
        for _ in range(int(spec.get("count", 1))):
            self.outcomes.append({"status": status, "polls": spec.get("polls")})
        return {"queued": list(self.outcomes)}

    def finish_import(self, imp: dict) -> None:
        imp["status"] = imp["target"]
        if imp["status"] == "Finished":
            self._apply_import(imp)

    def import_report(self, import_id: str) -> dict:
        imp = self.find_import(import_id)
        if imp["report"] is None:
            raise ApiError(404, "Import is not processed yet or completed with error. "
                                "ERROR_IMPORT_REPORT_NOT_FOUND")
        return imp["report"]

    def import_faults_csv(self, import_id: str) -> str:
        imp = self.find_import(import_id)
        if imp["status"] == "NotFinished":
            raise ApiError(404, "Import is not processed yet or completed with error. "
                                "ERROR_IMPORT_REPORT_NOT_FOUND")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["Reason", *imp["header"]])
        writer.writerows(imp["faults"])
        return out.getvalue()

    def _apply_import(self, imp: dict) -> None:
        header = [cell.lower() for cell in imp["header"]]
        email_at = header.index("email")
        columns = {i: name.upper() for i, name in enumerate(imp["header"])
                   if name.upper() in self.data_fields}
        book = self.books.get(imp["book_id"]) if imp["book_id"] is not None else None
        report = dict.fromkeys(REPORT_KEYS, 0)
        seen = set()

        def cell(row, name):
            return row[header.index(name)].strip() if name in header and header.index(
                name) < len(row) else ""

        for row in imp["rows"]:
            reason = self._import_row(row, cell, email_at, columns, book, imp["merge"], seen,
                                      report)
            if reason:
                imp["faults"].append([reason, *row])
        imp["report"] = report

    def _import_row(self, row, cell, email_at, columns, book, merge, seen, report) -> str | None:
        """Apply one CSV row; return the faults-CSV reason when the row is refused."""
        email = row[email_at].strip().lower() if email_at < len(row) else ""
        if not valid_email(email):
            report["invalidEntries"] += 1
            return "Invalid email address"
        if email in seen:
            report["duplicateEmails"] += 1
            return "Duplicate"
        seen.add(email)
        contact = self.contacts.get(self.by_email.get(email))
        if contact and contact["status"] not in MAILABLE:
            reason, counter = SUPPRESSION_FAULTS.get(contact["status"],
                                                     ("Suppressed", "suppressedContacts"))
            report[counter] += 1
            report["globallySuppressed"] += 1
            return reason
        if contact and book and contact["id"] in book["unsubscribed"]:
            report["unsubscribed"] += 1
            return "Unsubscribed"
        values = {}
        for index, name in columns.items():
            raw = row[index] if index < len(row) else ""
            try:
                values[name] = coerce(self.data_fields[name]["type"], raw)
            except ValueError:
                report["failures"] += 1
                return f"Invalid value for {name}"
        try:
            opt_in = enum_value(cell(row, "optintype"), OPT_IN_TYPES, "ERROR_CONTACT_INVALID")
            email_type = enum_value(cell(row, "emailtype"), EMAIL_TYPES, "ERROR_CONTACT_INVALID")
        except ApiError:
            report["failures"] += 1
            return "Invalid OptInType or EmailType"
        if contact is not None:
            current = contact["fields"]
            if merge == "OnlyOverwriteIfNotEmpty":
                values = {k: v for k, v in values.items() if v is not None}
            elif merge == "OnlyOverwriteIfContactDataNotPopulated":
                values = {k: v for k, v in values.items() if current.get(k) in (None, "")}
        contact, created = self.upsert_contact(
            {"email": email, "optInType": opt_in, "emailType": email_type})
        contact["fields"].update(values)
        report["newContacts" if created else "updatedContacts"] += 1
        if created and contact["status"] == "PendingOptIn":
            report["pendingDoubleOptin"] += 1
        if book is not None and not (book["system"] and book["name"] == "All Contacts"):
            book["members"].setdefault(contact["id"], contact["modified"])
        return None

    def dump(self) -> dict:
        """Everything, for test assertions through the control endpoint."""
        return {
            "settings": self.settings,
            "address_books": [dict(self.book_json(b), members=[self.contacts[c]["email"] for c in
                                                               sorted(b["members"])
                                                               if c in self.contacts],
                                   unsubscribed=[self.contacts[c]["email"] for c in
                                                 b["unsubscribed"] if c in self.contacts])
                              for b in self.books.values()],
            "contacts": [self.contact_json(c) for c in self.book_contacts(
                {"system": True, "name": "All Contacts", "members": {}})],
            "data_fields": [self.field_json(f) for f in self.data_fields.values()],
            "imports": [dict(self.import_json(i), book_id=i["book_id"], filename=i["filename"],
                             header=i["header"], rows=i["rows"], report=i["report"])
                        for i in self.imports.values()],
            "campaigns": [self.campaign_json(c) for c in self.sorted_campaigns()],
        }
