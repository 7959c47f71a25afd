"""In-memory state of the Mailchimp emulator: audiences, members, segments, campaigns, reports.

The Flask views hold ``Store.lock`` around every call, so the methods here assume exclusive
access. Failures are raised as ``ApiError`` and rendered as problem+json by the app.
"""

from __future__ import annotations

import copy
import hashlib
import re
import threading
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta

DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef-us21"
DEFAULT_LIST_ID = "1a2b3c4d5e"
API_KEY_RE = re.compile(r"^[0-9a-f]{32}-([a-z]+[0-9]+)$")
DC_RE = re.compile(r"^[a-z]+[0-9]+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REQUEST_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
MEMBER_STATUSES = (*REQUEST_STATUSES, "archived")
MERGE_TYPES = ("text", "number", "address", "phone", "date", "url", "imageurl", "radio",
               "dropdown", "birthday", "zip")
MERGE_OPTIONS = {"text": {"size": 25}, "address": {"default_country": 164},
                 "phone": {"phone_format": "US"}, "birthday": {"date_format": "MM/DD"},
                 "date": {"date_format": "MM/DD/YYYY"}, "radio": {"choices": []},
                 "dropdown": {"choices": []}}
DEFAULT_MERGE_FIELDS = (("FNAME", "First Name", "text"), ("LNAME", "Last Name", "text"),
                        ("ADDRESS", "Address", "address"), ("PHONE", "Phone Number", "phone"),
                        ("BIRTHDAY", "Birthday", "birthday"))
BATCH_LIMIT = 500
MAX_COUNT = 1000
ADMIN_UNSUBSCRIBE = "N/A (Unsubscribed by an admin)"
SELF_UNSUBSCRIBE = "I no longer want to receive these emails"
# Query arguments that only cut or shape a page, not which items the collection holds.
PAGING_ARGS = frozenset({"count", "offset", "fields", "exclude_fields"})
MAX_VIEWS = 64
COLLECTION_INVALID = ("The resource submitted could not be validated. "
                      "For field-specific details, see the 'errors' array.")


def all_keys(_collection: str) -> frozenset[str] | None:
    """Every field of every member of a response's collections (no ``fields`` given)."""
    return None


# The member fields a response asks for under one of its collections (None: all of them).
KeysFor = Callable[[str], frozenset[str] | None]


class ApiError(Exception):
    """An error the API answers with problem+json."""

    def __init__(self, status: int, title: str, detail: str, errors: list | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors


def not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", "The requested resource could not be found.")


def invalid(detail: str = COLLECTION_INVALID, field: str | None = None,
            message: str | None = None) -> ApiError:
    errors = [{"field": field, "message": message}] if field else None
    return ApiError(400, "Invalid Resource", detail, errors)


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def _hex(*parts, length: int = 10) -> str:
    # Deterministic ids keep seeded scenarios and test expectations stable across resets.
    return hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()[:length]


def iso(when: datetime | None) -> str:
    # isoformat, not strftime: every rendered member carries three of these.
    return when.astimezone(UTC).isoformat(timespec="seconds") if when else ""


def parse_time(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    # An unencoded "+00:00" in a query string arrives as " 00:00".
    text = re.sub(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", r"\1+\2", text)
    try:
        when = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise invalid(field=field, message=f"{value!r} is not a valid ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Clock:
    """Wall clock that tests can freeze or move, so ``since_*`` filters are deterministic."""

    def __init__(self):
        self._lock = threading.Lock()
        self._frozen: datetime | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            current = self._frozen or datetime.now(UTC) + self._offset
        return current.replace(microsecond=0)

    def set(self, when: datetime | None) -> None:
        with self._lock:
            self._frozen = when

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)

    def release(self) -> None:
        with self._lock:
            self._frozen, self._offset = None, timedelta(0)


def int_arg(args, name: str, default: int) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid(field=name, message="Must be an integer") from None
    if value < 0:
        raise invalid(field=name, message="Must be zero or more")
    return value


def bool_arg(args, name: str, default: bool = False) -> bool:
    raw = args.get(name)
    return default if raw in (None, "") else str(raw).lower() in ("true", "1", "yes")


def paginate(items: list, args) -> tuple[list, int]:
    """Slice by ``count``/``offset`` (record offset, as the spec says); count is capped at 1000."""
    count = min(int_arg(args, "count", 10), MAX_COUNT)
    offset = int_arg(args, "offset", 0)
    return items[offset:offset + count], len(items)


def time_window(items: list, args, name: str, key) -> list:
    """Apply ``since_<name>`` (inclusive) and ``before_<name>`` (exclusive) to ``key(item)``."""
    since = parse_time(args.get(f"since_{name}"), f"since_{name}")
    before = parse_time(args.get(f"before_{name}"), f"before_{name}")
    if since:
        items = [i for i in items if key(i) and key(i) >= since]
    if before:
        items = [i for i in items if key(i) and key(i) < before]
    return items


def sort_items(items: list, args, allowed: dict) -> list:
    field = args.get("sort_field")
    if not field:
        return items
    if field not in allowed:
        raise invalid(field="sort_field", message=f"Must be one of {', '.join(allowed)}")
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(items, key=lambda i: allowed[field](i) or epoch,
                  reverse=str(args.get("sort_dir", "ASC")).upper() == "DESC")


class Store:
    """Everything one emulated Mailchimp account holds."""

    def __init__(self, clock: Clock):
        self.lock = threading.RLock()
        self.clock = clock
        self.reset()

    # -- setup -------------------------------------------------------------------------
    def reset(self) -> None:
        self.api_keys: set[str] = {DEFAULT_API_KEY}
        self.lists: dict[str, dict] = {}
        self.members: dict[str, dict[str, dict]] = {}
        self.forgotten: dict[str, set[str]] = {}
        self.merge_fields: dict[str, list[dict]] = {}
        self.segments: dict[str, dict[int, dict]] = {}
        self.campaigns: dict[str, dict] = {}
        self.report_overrides: dict[str, dict] = {}
        self.activity: dict[str, dict[str, dict]] = {}
        self.unsubscribes: dict[str, list[dict]] = {}
        self.abuse: dict[str, list[dict]] = {}
        self.sent_to: dict[str, list[dict]] = {}
        self._seq = {"n": 0, "web": 100000, "segment": 10000, "abuse": 5000}
        # Audiences cap their merge fields (plan-dependent); None means no cap.
        self.max_merge_fields: int | None = None
        self._views: dict[tuple, list] = {}
        self.add_list({"id": DEFAULT_LIST_ID, "name": "Listbridge Demo Audience"})

    def changed(self) -> None:
        """Forget the cached collection views: a write may have changed what they hold."""
        self._views.clear()

    def _view(self, key: tuple, args, build) -> list:
        """The filtered, sorted collection a page is cut from, built once per query.

        Reading an audience page by page would otherwise filter and sort every member for
        every page (quadratic in the audience); ``changed`` drops the views on any write.
        """
        key += tuple(sorted((k, v) for k, v in args.items() if k not in PAGING_ARGS))
        view = self._views.get(key)
        if view is None:
            if len(self._views) >= MAX_VIEWS:
                self._views.clear()
            view = self._views[key] = build()
        return view

    def _next(self, name: str) -> int:
        self._seq[name] += 1
        return self._seq[name]

    def key_dc(self, key: str | None) -> str | None:
        match = API_KEY_RE.match(key or "")
        return match.group(1) if match and key in self.api_keys else None

    def add_api_key(self, key: str) -> None:
        if not API_KEY_RE.match(str(key)):
            raise ValueError(f"API key {key!r} must look like <32 hex>-<dc>, e.g. ...-us21")
        self.api_keys.add(key)

    def add_list(self, data: dict) -> dict:
        n = self._next("n")
        list_id = data.get("id") or _hex("list", n)
        if list_id in self.lists:
            raise ValueError(f"list {list_id} already exists")
        contact = {"company": "Listbridge Ltd", "address1": "1 Market Street", "address2": "",
                   "city": "London", "state": "", "zip": "EC1A 1AA", "country": "GB",
                   "phone": ""} | (data.get("contact") or {})
        defaults = {"from_name": "Listbridge", "from_email": "news@listbridge.test",
                    "subject": "", "language": "en"} | (data.get("campaign_defaults") or {})
        self.lists[list_id] = {
            "id": list_id, "web_id": self._next("web"), "name": data.get("name") or f"Audience {n}",
            "contact": contact, "campaign_defaults": defaults,
            "permission_reminder": data.get("permission_reminder")
            or "You signed up for updates on our website.",
            "date_created": parse_time(data.get("date_created"), "date_created")
            or self.clock.now(),
            "double_optin": bool(data.get("double_optin", False)),
            "visibility": data.get("visibility", "prv"),
        }
        self.members[list_id], self.forgotten[list_id], self.segments[list_id] = {}, set(), {}
        self.merge_fields[list_id] = []
        fields = data.get("merge_fields")
        if fields is None:
            fields = [{"tag": t, "name": nm, "type": tp} for t, nm, tp in DEFAULT_MERGE_FIELDS]
        for field in fields:
            self.add_merge_field(list_id, field)
        return self.lists[list_id]

    def get_list(self, list_id: str) -> dict:
        if list_id not in self.lists:
            raise not_found()
        return self.lists[list_id]

    # -- merge fields ------------------------------------------------------------------
    def add_merge_field(self, list_id: str, data: dict) -> dict:
        fields = self.merge_fields[list_id]
        name, kind = data.get("name"), data.get("type")
        if not name:
            raise invalid(field="name", message="This value should not be blank.")
        if kind not in MERGE_TYPES:
            raise invalid(field="type", message=f"Must be one of {', '.join(MERGE_TYPES)}")
        if self.max_merge_fields is not None and len(fields) >= self.max_merge_fields:
            raise invalid(f"This audience already has the maximum of {self.max_merge_fields} "
                          "merge fields.")
        merge_id = max((f["merge_id"] for f in fields), default=0) + 1
        tag = str(data.get("tag") or f"MMERGE{merge_id}").upper()
        if not re.fullmatch(r"[A-Z0-9_]{1,10}", tag) or tag == "EMAIL":
            raise invalid(field="tag", message="Tags are up to 10 letters, digits or _.")
        if any(f["tag"] == tag for f in fields):
            raise invalid(f'A Merge Field with the tag "{tag}" already exists for this list.')
        field = {"merge_id": merge_id, "tag": tag, "name": name, "type": kind,
                 "required": bool(data.get("required", False)),
                 "default_value": str(data.get("default_value", "")),
                 "public": bool(data.get("public", True)),
                 "display_order": int(data.get("display_order") or merge_id + 1),
                 "options": MERGE_OPTIONS.get(kind, {}) | (data.get("options") or {}),
                 "help_text": str(data.get("help_text", "")), "list_id": list_id}
        fields.append(field)
        return field

    def _merge_values(self, list_id: str, given, current: dict, skip_validation: bool) -> dict:
        if given is not None and not isinstance(given, dict):
            raise invalid("Your merge fields were invalid.", "merge_fields", "Must be an object")
        defined = {f["tag"]: f for f in self.merge_fields[list_id]}
        # Tags the audience does not define are dropped, as Mailchimp does.
        values = dict(current) | {k.upper(): v for k, v in (given or {}).items()
                                  if k.upper() in defined}
        problems = []
        for tag, field in defined.items():
            value = values.get(tag, "")
            if field["type"] == "number" and value not in ("", None):
                try:
                    float(value)
                except (TypeError, ValueError):
                    problems.append({"field": tag, "message": "Please enter a number"})
            if field["required"] and value in ("", None) and not skip_validation:
                problems.append({"field": tag, "message": "Please enter a value"})
        if problems:
            raise ApiError(400, "Invalid Resource", "Your merge fields were invalid.", problems)
        return values

    # -- members -----------------------------------------------------------------------
    def find_member(self, list_id: str, key: str) -> dict | None:
        members = self.members[self.get_list(list_id)["id"]]
        key = key.strip()
        if "@" in key:
            return members.get(subscriber_hash(key))
        found = members.get(key.lower())
        return found or next((m for m in members.values() if m["contact_id"] == key), None)

    def get_member(self, list_id: str, key: str) -> dict:
        member = self.find_member(list_id, key)
        if member is None:
            raise not_found()
        return member

    def _new_member(self, list_id: str, email: str) -> dict:
        h = subscriber_hash(email)
        if h in self.forgotten[list_id]:
            raise ApiError(400, "Forgotten Email Not Subscribed",
                           f"{email} was permanently deleted and cannot be re-imported. "
                           "The contact must re-subscribe to get back on the list.")
        if not EMAIL_RE.match(email):
            raise invalid("This email address looks fake or invalid. "
                          "Please enter a real email address.", "email_address",
                          "An email address must contain a single @.")
        return {"hash": h, "email_address": email.strip(), "status": "", "merge_fields": {},
                "interests": {}, "language": "", "vip": False, "email_type": "html",
                "ip_signup": "", "timestamp_signup": None, "ip_opt": "", "timestamp_opt": None,
                "last_changed": None, "unique_email_id": _hex("euid", list_id, h),
                "contact_id": _hex("contact", list_id, h, length=32),
                "web_id": self._next("web"), "unsubscribe_reason": "", "compliance": False,
                "location": {"latitude": 0, "longitude": 0}}

    def _write(self, list_id: str, member: dict, data: dict, status: str | None,
               skip_merge: bool) -> bool:
        """Apply a write to ``member``; return whether anything changed."""
        before = _snapshot(member)
        now = self.clock.now()
        # Everything that can be refused is checked before the member is touched.
        values = self._merge_values(list_id, data.get("merge_fields"), member["merge_fields"],
                                    skip_merge)
        if status and status != member["status"]:
            self._check_status(member, status)
        member["merge_fields"] = values
        for field in ("language", "ip_signup", "ip_opt"):
            if field in data:
                member[field] = str(data[field] or "")
        if "vip" in data:
            member["vip"] = bool(data["vip"])
        if data.get("email_type") in ("html", "text"):
            member["email_type"] = data["email_type"]
        if isinstance(data.get("interests"), dict):
            member["interests"] |= {k: bool(v) for k, v in data["interests"].items()}
        if isinstance(data.get("location"), dict):
            member["location"] |= {k: data["location"][k] for k in ("latitude", "longitude")
                                   if k in data["location"]}
        for field in ("timestamp_signup", "timestamp_opt"):
            if data.get(field):
                member[field] = parse_time(data[field], field)
        if status and status != member["status"]:
            self._set_status(member, status, now)
        changed = member != before
        if changed or member["last_changed"] is None:
            member["last_changed"] = now
        return changed

    @staticmethod
    def _check_status(member: dict, status: str) -> None:
        if status not in REQUEST_STATUSES:
            raise invalid(field="status", message=f"Must be one of {', '.join(REQUEST_STATUSES)}")
        # Contacts who unsubscribed themselves, bounced or complained can only come back
        # through a double opt-in (status "pending"), never straight to "subscribed".
        if status == "subscribed" and member["compliance"]:
            raise ApiError(400, "Member In Compliance State",
                           f"{member['email_address']} is in a compliance state due to "
                           "unsubscribe, bounce, or compliance review and cannot be subscribed.")

    @staticmethod
    def _set_status(member: dict, status: str, now: datetime) -> None:
        member["status"] = status
        if status == "subscribed":
            member["timestamp_opt"], member["unsubscribe_reason"] = now, ""
        elif status == "unsubscribed":
            member["unsubscribe_reason"] = ADMIN_UNSUBSCRIBE
        elif status == "cleaned":
            member["compliance"] = True

    def _insert(self, list_id: str, member: dict) -> dict:
        if member["timestamp_signup"] is None:
            member["timestamp_signup"] = self.clock.now()
        self.members[list_id][member["hash"]] = member
        return member

    def create_member(self, list_id: str, data: dict, skip_merge: bool) -> dict:
        self.get_list(list_id)
        email = str(data.get("email_address") or "")
        if not email:
            raise invalid(field="email_address", message="This value should not be blank.")
        existing = self.find_member(list_id, email)
        if existing and existing["status"] != "archived":
            raise ApiError(400, "Member Exists", f"{email} is already a list member. "
                           "Use PUT to insert or update list members.")
        if not data.get("status"):
            raise invalid(field="status", message="This value should not be blank.")
        member = existing or self._new_member(list_id, email)
        self._write(list_id, member, data, data["status"], skip_merge)
        self._insert(list_id, member)
        for name in data.get("tags") or []:
            self._segment_by_name(list_id, str(name))["hashes"][member["hash"]] = True
        return member

    def upsert_member(self, list_id: str, key: str, data: dict, skip_merge: bool):
        """PUT semantics: ``status_if_new`` applies to new (or archived) members only."""
        self.get_list(list_id)
        member = self.find_member(list_id, key)
        email = str(data.get("email_address") or "")
        expected = member["hash"] if member else subscriber_hash(key) if "@" in key else key
        if email and subscriber_hash(email) != expected.lower():
            raise invalid(field="email_address",
                          message="The email address does not match the subscriber hash.")
        email = email or (member or {}).get("email_address", "")
        if member and member["status"] != "archived":
            self._write(list_id, member, data, data.get("status"), skip_merge)
            return member, False
        if not email:
            raise invalid(field="email_address", message="This value should not be blank.")
        status = data.get("status_if_new") or data.get("status")
        if not status:
            raise invalid(field="status_if_new", message="This value should not be blank.")
        member = member or self._new_member(list_id, email)
        self._write(list_id, member, data, status, skip_merge)
        return self._insert(list_id, member), True

    def update_member(self, list_id: str, key: str, data: dict, skip_merge: bool) -> dict:
        member = self.get_member(list_id, key)
        email = data.get("email_address")
        if email and subscriber_hash(email) != member["hash"]:
            raise invalid(field="email_address",
                          message="Changing the email address is not supported.")
        self._write(list_id, member, data, data.get("status"), skip_merge)
        return member

    def archive_member(self, list_id: str, key: str) -> None:
        member = self.get_member(list_id, key)
        if member["status"] in ("archived", "cleaned", "pending"):
            raise ApiError(405, "Method Not Allowed", "This list member cannot be removed.  "
                           "Can not archive a contact that is bounced, pending or archived")
        member["status"], member["last_changed"] = "archived", self.clock.now()

    def delete_permanent(self, list_id: str, key: str) -> None:
        member = self.get_member(list_id, key)
        del self.members[list_id][member["hash"]]
        self.forgotten[list_id].add(member["hash"])
        for segment in self.segments[list_id].values():
            segment["hashes"].pop(member["hash"], None)

    def batch_subscribe(self, list_id: str, body: dict, skip_merge: bool,
                        skip_duplicates: bool, keys: KeysFor = all_keys) -> dict:
        self.get_list(list_id)
        entries = body.get("members")
        if not isinstance(entries, list):
            raise invalid(field="members", message="Required array is missing.")
        if len(entries) > BATCH_LIMIT:
            raise invalid(field="members",
                          message=f"Schema describes array, maximum {BATCH_LIMIT} items.")
        update_existing = bool(body.get("update_existing", False))
        created, updated, errors, seen = [], [], [], set()
        for entry in entries:
            entry = entry if isinstance(entry, dict) else {}
            email = str(entry.get("email_address") or "").strip()
            try:
                h = subscriber_hash(email)
                if email and h in seen:
                    if skip_duplicates:
                        continue
                    raise invalid(f"{email} is a duplicate in this request.")
                seen.add(h)
                member = self.find_member(list_id, email) if email else None
                if member and member["status"] != "archived":
                    if not update_existing:
                        errors.append(_row_error(email, "ERROR_CONTACT_EXISTS",
                                                 f"{email} is already a list member, do you want"
                                                 " to update? please provide update_existing:"
                                                 "true in the request body"))
                        continue
                    self._write(list_id, member, entry, entry.get("status"), skip_merge)
                    updated.append(member)
                    continue
                status = entry.get("status_if_new") or entry.get("status")
                if not status:
                    raise invalid("Status is required.", "status", "This value is required.")
                member = member or self._new_member(list_id, email)
                self._write(list_id, member, entry, status, skip_merge)
                created.append(self._insert(list_id, member))
            except ApiError as exc:
                field = (exc.errors or [{}])[0].get("field", "")
                message = (exc.errors or [{}])[0].get("message", "")
                errors.append(_row_error(email, "ERROR_GENERIC", exc.detail, field, message))
        return {"new_members": self._render_all(list_id, created, keys("new_members")),
                "updated_members": self._render_all(list_id, updated,
                                                    keys("updated_members")),
                "errors": errors, "total_created": len(created), "total_updated": len(updated),
                "error_count": len(errors)}

    def list_members(self, list_id: str, args) -> list[dict]:
        self.get_list(list_id)
        return self._view(("members", list_id), args,
                          lambda: self._filter_members(list_id, args))

    def _filter_members(self, list_id: str, args) -> list[dict]:
        members = list(self.members[list_id].values())
        wanted = [s for s in str(args.get("status") or "").split(",") if s]
        if any(s not in MEMBER_STATUSES for s in wanted):
            raise invalid(field="status", message=f"Must be one of {', '.join(MEMBER_STATUSES)}")
        # Archived contacts are only listed when asked for by status, as in Mailchimp.
        wanted = wanted or [s for s in MEMBER_STATUSES if s != "archived"]
        members = [m for m in members if m["status"] in wanted]
        if args.get("email_type"):
            members = [m for m in members if m["email_type"] == args["email_type"]]
        if args.get("unique_email_id"):
            members = [m for m in members if m["unique_email_id"] == args["unique_email_id"]]
        if bool_arg(args, "vip_only"):
            members = [m for m in members if m["vip"]]
        for name in ("last_changed", "timestamp_opt"):
            members = time_window(members, args, name, lambda m, n=name: m[n])
        return sort_items(members, args, {f: (lambda m, f=f: m[f]) for f in
                                          ("timestamp_opt", "timestamp_signup", "last_changed")})

    def render_member(self, list_id: str, m: dict, keys: frozenset[str] | None = None) -> dict:
        """A member as the API shows it.

        With ``keys`` (the member fields a response's ``fields`` asks for) the costly parts
        nobody asked for are skipped; the response is trimmed to ``fields`` anyway. A batch
        of 500 would otherwise render 500 full members to answer with three fields each.
        """
        def wanted(*names: str) -> bool:
            return keys is None or not keys.isdisjoint(names)

        body = {"id": m["hash"], "email_address": m["email_address"],
                "unique_email_id": m["unique_email_id"], "contact_id": m["contact_id"],
                "web_id": m["web_id"], "email_type": m["email_type"], "status": m["status"],
                "unsubscribe_reason": m["unsubscribe_reason"],
                "consents_to_one_to_one_messaging": True, "sms_phone_number": "",
                "ip_signup": m["ip_signup"], "ip_opt": m["ip_opt"], "member_rating": 2,
                "language": m["language"], "vip": m["vip"], "email_client": "",
                "source": "API - Generic", "list_id": list_id}
        if wanted("merge_fields", "full_name"):
            values = {f["tag"]: "" for f in self.merge_fields[list_id]} | m["merge_fields"]
            body["merge_fields"] = values
            body["full_name"] = " ".join(str(values.get(t) or "")
                                         for t in ("FNAME", "LNAME")).strip()
        if wanted("interests"):
            body["interests"] = dict(m["interests"])
        if wanted("stats"):
            body["stats"] = {"avg_open_rate": 0, "avg_click_rate": 0}
        for name in ("timestamp_signup", "timestamp_opt", "last_changed"):
            if wanted(name):
                body[name] = iso(m[name])
        if wanted("location"):
            body["location"] = {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0,
                                "country_code": "", "timezone": "", "region": ""} | m["location"]
        if wanted("tags", "tags_count"):
            tags = [{"id": s["id"], "name": s["name"]} for s in self.segments[list_id].values()
                    if s["type"] == "static" and m["hash"] in s["hashes"]]
            body["tags_count"], body["tags"] = len(tags), tags
        return body

    def _render_all(self, list_id: str, members: list[dict],
                    keys: frozenset[str] | None) -> list[dict]:
        if keys is not None and not keys:
            return [{} for _ in members]  # the response leaves the collection out
        return [self.render_member(list_id, m, keys) for m in members]

    # -- segments ----------------------------------------------------------------------
    def _check_segment_name(self, list_id: str, name, own_id: int | None = None) -> str:
        if not name or not isinstance(name, str):
            raise invalid(field="name", message="This value should not be blank.")
        if any(s["name"] == name and s["id"] != own_id for s in self.segments[list_id].values()):
            raise invalid("Sorry, that tag already exists.")
        return name

    def _segment_by_name(self, list_id: str, name: str) -> dict:
        found = [s for s in self.segments[list_id].values() if s["name"] == name]
        return found[0] if found else self.create_segment(list_id, {"name": name,
                                                                     "static_segment": []})

    def create_segment(self, list_id: str, data: dict) -> dict:
        self.get_list(list_id)
        name = self._check_segment_name(list_id, data.get("name"))
        emails, options = data.get("static_segment"), data.get("options")
        if emails is None and options is None:
            raise invalid('Must provide either an "options" field or a "static_segment" field')
        if emails is not None and options is not None:
            raise invalid('"static_segment" cannot be provided with the "options" field')
        now = self.clock.now()
        segment = {"id": self._next("segment"), "name": name, "created_at": now,
                   "updated_at": now, "hashes": {},
                   "type": "static" if emails is not None else "saved",
                   "options": options if isinstance(options, dict) else None}
        self.segments[list_id][segment["id"]] = segment
        self._fill_static(list_id, segment, emails or [])
        return segment

    def _fill_static(self, list_id: str, segment: dict, emails) -> None:
        if not isinstance(emails, list):
            raise invalid(field="static_segment", message="Must be an array of emails")
        for email in emails:
            member = self.find_member(list_id, str(email))
            # Addresses not on the list are ignored on create, as the docs say.
            if member and member["status"] != "archived":
                segment["hashes"][member["hash"]] = True

    def get_segment(self, list_id: str, segment_id) -> dict:
        self.get_list(list_id)
        try:
            return self.segments[list_id][int(segment_id)]
        except (KeyError, ValueError):
            raise not_found() from None

    def update_segment(self, list_id: str, segment_id, data: dict) -> dict:
        segment = self.get_segment(list_id, segment_id)
        segment["name"] = self._check_segment_name(list_id, data.get("name"), segment["id"])
        if "static_segment" in data and segment["type"] == "static":
            segment["hashes"] = {}
            self._fill_static(list_id, segment, data["static_segment"])
        if isinstance(data.get("options"), dict) and segment["type"] == "saved":
            segment["options"] = data["options"]
        segment["updated_at"] = self.clock.now()
        return segment

    def delete_segment(self, list_id: str, segment_id) -> None:
        del self.segments[list_id][self.get_segment(list_id, segment_id)["id"]]

    def segment_batch(self, list_id: str, segment_id, body: dict,
                      keys: KeysFor = all_keys) -> dict:
        segment = self.get_segment(list_id, segment_id)
        if segment["type"] != "static":
            raise invalid(f"A Static Segment with an id of {segment['id']} does not exist for "
                          "this list.")
        to_add, to_remove = body.get("members_to_add") or [], body.get("members_to_remove") or []
        for field, emails in (("members_to_add", to_add), ("members_to_remove", to_remove)):
            if not isinstance(emails, list):
                raise invalid(field=field, message="Must be an array of emails")
            if len(emails) > BATCH_LIMIT:
                raise invalid(field=field,
                              message=f"Schema describes array, maximum {BATCH_LIMIT} items.")
        added, removed, missing = [], [], []
        for emails, adding in ((to_add, True), (to_remove, False)):
            for email in emails:
                member = self.find_member(list_id, str(email))
                if member is None or member["status"] == "archived":
                    missing.append(str(email))
                elif adding and member["hash"] not in segment["hashes"]:
                    segment["hashes"][member["hash"]] = True
                    added.append(member)
                elif not adding and segment["hashes"].pop(member["hash"], None):
                    removed.append(member)
        if added or removed:
            segment["updated_at"] = self.clock.now()
        errors = [{"email_addresses": missing,
                   "error": "Email addresses are not members of this list"}] if missing else []
        return {"members_added": self._render_all(list_id, added, keys("members_added")),
                "members_removed": self._render_all(list_id, removed,
                                                    keys("members_removed")),
                "errors": errors, "total_added": len(added), "total_removed": len(removed),
                "error_count": len(missing)}

    def segment_members(self, list_id: str, segment: dict, args) -> list[dict]:
        return self._view(("segment", list_id, segment["id"]), args,
                          lambda: self._filter_segment(list_id, segment, args))

    def _filter_segment(self, list_id: str, segment: dict, args) -> list[dict]:
        hidden = {s for s in ("cleaned", "transactional", "unsubscribed")
                  if not bool_arg(args, f"include_{s}")} | {"archived"}
        members = self.members[list_id]
        return [members[h] for h in segment["hashes"]
                if h in members and members[h]["status"] not in hidden]

    def render_segment(self, list_id: str, s: dict) -> dict:
        members = self.members[list_id]
        body = {"id": s["id"], "name": s["name"],
                "member_count": sum(1 for h in s["hashes"]
                                    if members.get(h, {}).get("status") == "subscribed"),
                "type": s["type"], "created_at": iso(s["created_at"]),
                "updated_at": iso(s["updated_at"]), "list_id": list_id}
        if s["options"] is not None:
            body["options"] = s["options"]
        return body

    # -- audiences ---------------------------------------------------------------------
    def filter_lists(self, args) -> list[str]:
        ids = list(self.lists)
        if args.get("email"):
            h = subscriber_hash(args["email"])
            ids = [i for i in ids
                   if self.members[i].get(h, {}).get("status", "archived") != "archived"]
        ids = time_window(ids, args, "date_created", lambda i: self.lists[i]["date_created"])
        ids = time_window(ids, args, "campaign_last_sent", self._last_sent)
        return sort_items(ids, args, {"date_created": lambda i: self.lists[i]["date_created"]})

    def _last_sent(self, list_id: str) -> datetime | None:
        return max((c["send_time"] for c in self.campaigns.values()
                    if c["list_id"] == list_id and c["status"] == "sent"), default=None)

    def render_list(self, list_id: str, dc: str, include_total: bool = False) -> dict:
        rec, members = self.lists[list_id], list(self.members[list_id].values())
        last_sent = self._last_sent(list_id)

        def count(status, after=None):
            return sum(1 for m in members if m["status"] == status
                       and (after is None or (m["last_changed"] or after) > after))

        subscribed = [m["timestamp_opt"] for m in members
                      if m["status"] == "subscribed" and m["timestamp_opt"]]
        unsubscribed = [m["last_changed"] for m in members if m["status"] == "unsubscribed"]
        stats = {"member_count": count("subscribed"), "unsubscribe_count": count("unsubscribed"),
                 "cleaned_count": count("cleaned"),
                 "member_count_since_send": count("subscribed", last_sent),
                 "unsubscribe_count_since_send": count("unsubscribed", last_sent),
                 "cleaned_count_since_send": count("cleaned", last_sent),
                 "campaign_count": sum(1 for c in self.campaigns.values()
                                       if c["list_id"] == list_id and c["status"] == "sent"),
                 "campaign_last_sent": iso(last_sent),
                 "merge_field_count": len(self.merge_fields[list_id]),
                 "avg_sub_rate": 0, "avg_unsub_rate": 0, "target_sub_rate": 0,
                 "open_rate": 0, "click_rate": 0,
                 "last_sub_date": iso(max(subscribed, default=None)),
                 "last_unsub_date": iso(max(unsubscribed, default=None))}
        if include_total:
            stats["total_contacts"] = sum(1 for m in members if m["status"] != "archived")
        account = _hex("account", length=25)
        return {"id": list_id, "web_id": rec["web_id"], "name": rec["name"],
                "contact": dict(rec["contact"]), "permission_reminder": rec["permission_reminder"],
                "use_archive_bar": True, "campaign_defaults": dict(rec["campaign_defaults"]),
                "notify_on_subscribe": "", "notify_on_unsubscribe": "",
                "date_created": iso(rec["date_created"]), "list_rating": 0,
                "email_type_option": False,
                "subscribe_url_short": f"http://eepurl.com/{_hex('eep', list_id, length=6)}",
                "subscribe_url_long": f"https://listbridge.{dc}.list-manage.com/subscribe"
                                      f"?u={account}&id={list_id}",
                "beamer_address": f"{dc}-{_hex('beamer', list_id)}@inbound.mailchimp.com",
                "visibility": rec["visibility"], "double_optin": rec["double_optin"],
                "has_welcome": False, "marketing_permissions": False, "modules": [],
                "stats": stats}

    # -- campaigns and reports ---------------------------------------------------------
    def get_campaign(self, campaign_id: str, sent_only: bool = False) -> dict:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None or (sent_only and campaign["status"] != "sent"):
            raise not_found()
        return campaign

    def filter_campaigns(self, args, sent_only: bool = False) -> list[dict]:
        items = list(self.campaigns.values())
        statuses = [s for s in str(args.get("status") or "").split(",") if s]
        if sent_only or statuses:
            items = [c for c in items if c["status"] in (["sent"] if sent_only else statuses)]
        for field in ("type", "list_id"):
            if args.get(field):
                items = [c for c in items if c[field] == args[field]]
        items = time_window(items, args, "send_time", lambda c: c["send_time"])
        items = time_window(items, args, "create_time", lambda c: c["create_time"])
        return sort_items(items, args, {f: (lambda c, f=f: c[f])
                                        for f in ("create_time", "send_time")})

    def _numbers(self, c: dict) -> dict:
        entries = list(self.activity.get(c["id"], {}).values())
        events = [(e["hash"], ev) for e in entries for ev in e["events"]]

        def who(action, kind=None):
            return {h for h, ev in events if ev["action"] == action
                    and (kind is None or ev.get("type") == kind)}

        def last(action):
            return iso(max((ev["timestamp"] for _, ev in events if ev["action"] == action),
                           default=None))

        sent = c["emails_sent"] if c["emails_sent"] is not None else len(self._sent_rows(c))
        hard, soft = len(who("bounce", "hard")), len(who("bounce", "soft"))
        delivered = max(sent - hard - soft, 0)
        unique_opens, clickers = len(who("open")), len(who("click"))
        return {"emails_sent": sent, "hard": hard, "soft": soft,
                "opens": sum(1 for _, ev in events if ev["action"] == "open"),
                "unique_opens": unique_opens,
                "open_rate": round(unique_opens / delivered, 4) if delivered else 0,
                "clicks": sum(1 for _, ev in events if ev["action"] == "click"),
                "unique_clicks": len({(h, ev.get("url")) for h, ev in events
                                      if ev["action"] == "click"}),
                "subscriber_clicks": clickers,
                "click_rate": round(clickers / delivered, 4) if delivered else 0,
                "last_open": last("open"), "last_click": last("click")}

    def render_campaign(self, c: dict, dc: str) -> dict:
        lst = self.lists.get(c["list_id"], {})
        sent = c["status"] == "sent"
        n = self._numbers(c)
        recipients = {"list_id": c["list_id"], "list_is_active": True,
                      "list_name": lst.get("name", ""), "segment_text": "",
                      "recipient_count": n["emails_sent"]}
        if c["segment_id"]:
            recipients["segment_opts"] = {"saved_segment_id": c["segment_id"], "match": "all",
                                          "conditions": []}
        body = {"id": c["id"], "web_id": c["web_id"], "parent_campaign_id": "",
                "type": c["type"], "create_time": iso(c["create_time"]),
                "archive_url": f"http://eepurl.com/{_hex('eep', c['id'], length=6)}",
                "long_archive_url": f"https://us.{dc}.campaign-archive.com/?u="
                                    f"{_hex('account', length=25)}&id={c['id']}",
                "status": c["status"], "emails_sent": n["emails_sent"] if sent else 0,
                "send_time": iso(c["send_time"]), "content_type": "template",
                "needs_block_refresh": False, "resendable": False, "recipients": recipients,
                "settings": dict(c["settings"]),
                "tracking": {"opens": True, "html_clicks": True, "text_clicks": False,
                             "goal_tracking": False, "ecomm360": False, "google_analytics": "",
                             "clicktale": ""},
                "delivery_status": {"enabled": False}}
        if sent:
            body["report_summary"] = {
                "opens": n["opens"], "unique_opens": n["unique_opens"],
                "open_rate": n["open_rate"], "clicks": n["clicks"],
                "subscriber_clicks": n["subscriber_clicks"], "click_rate": n["click_rate"],
                "ecommerce": {"total_orders": 0, "total_spent": 0, "total_revenue": 0}}
        return body

    def render_report(self, c: dict) -> dict:
        lst, n = self.lists.get(c["list_id"], {}), self._numbers(c)
        report = {
            "id": c["id"], "campaign_title": c["settings"]["title"], "type": c["type"],
            "list_id": c["list_id"], "list_is_active": True, "list_name": lst.get("name", ""),
            "subject_line": c["settings"]["subject_line"],
            "preview_text": c["settings"]["preview_text"], "emails_sent": n["emails_sent"],
            "abuse_reports": len(self.abuse.get(c["id"], [])),
            "unsubscribed": len(self.unsubscribes.get(c["id"], [])),
            "send_time": iso(c["send_time"]),
            "bounces": {"hard_bounces": n["hard"], "soft_bounces": n["soft"],
                        "syntax_errors": 0},
            "forwards": {"forwards_count": 0, "forwards_opens": 0},
            "opens": {"opens_total": n["opens"], "unique_opens": n["unique_opens"],
                      "open_rate": n["open_rate"], "last_open": n["last_open"]},
            "clicks": {"clicks_total": n["clicks"], "unique_clicks": n["unique_clicks"],
                       "unique_subscriber_clicks": n["subscriber_clicks"],
                       "click_rate": n["click_rate"], "last_click": n["last_click"]},
            "facebook_likes": {"recipient_likes": 0, "unique_likes": 0, "facebook_likes": 0},
            "list_stats": {"sub_rate": 0, "unsub_rate": 0, "open_rate": 0, "click_rate": 0},
            "timeseries": [],
            "ecommerce": {"total_orders": 0, "total_spent": 0, "total_revenue": 0,
                          "currency_code": "USD"},
            "delivery_status": {"enabled": False}}
        return _deep_merge(report, self.report_overrides.get(c["id"], {}))

    def _member_view(self, list_id: str, h: str) -> dict:
        member = self.members.get(list_id, {}).get(h)
        if member is None:
            return {"merge_fields": {}, "vip": False}
        view = self.render_member(list_id, member)
        return {"merge_fields": view["merge_fields"], "vip": view["vip"]}

    def _sent_rows(self, c: dict) -> list[dict]:
        if c["id"] in self.sent_to:
            return self.sent_to[c["id"]]
        rows: dict[str, dict] = {}
        for e in self.activity.get(c["id"], {}).values():
            opens = [ev["timestamp"] for ev in e["events"] if ev["action"] == "open"]
            bounce = next((ev.get("type") for ev in e["events"] if ev["action"] == "bounce"), "")
            rows[e["hash"]] = {"hash": e["hash"], "email_address": e["email_address"],
                               "status": bounce or "sent", "open_count": len(opens),
                               "last_open": max(opens, default=None)}
        for row in self.unsubscribes.get(c["id"], []) + self.abuse.get(c["id"], []):
            rows.setdefault(row["hash"], {"hash": row["hash"], "status": "sent",
                                          "email_address": row["email_address"],
                                          "open_count": 0, "last_open": None})
        return list(rows.values())

    def _row_base(self, c: dict, h: str, email: str) -> dict:
        return {"campaign_id": c["id"], "list_id": c["list_id"], "list_is_active": True,
                "email_id": h, "email_address": email}

    def sent_to_rows(self, c: dict) -> list[dict]:
        return [self._row_base(c, r["hash"], r["email_address"])
                | self._member_view(c["list_id"], r["hash"])
                | {"status": r["status"], "open_count": r["open_count"],
                   "last_open": iso(r["last_open"]), "gmt_offset": 0}
                for r in self._sent_rows(c)]

    def email_activity(self, c: dict, since: datetime | None) -> list[dict]:
        rows = []
        for e in self.activity.get(c["id"], {}).values():
            events = [ev for ev in e["events"] if since is None or ev["timestamp"] >= since]
            if since is None or events:
                rows.append(self._row_base(c, e["hash"], e["email_address"])
                            | {"activity": [_render_event(ev) for ev in events]})
        return rows

    def unsubscribe_rows(self, c: dict) -> list[dict]:
        return [self._row_base(c, u["hash"], u["email_address"])
                | self._member_view(c["list_id"], u["hash"])
                | {"timestamp": iso(u["timestamp"]), "reason": u["reason"]}
                for u in self.unsubscribes.get(c["id"], [])]

    def abuse_rows(self, c: dict) -> list[dict]:
        return [self._row_base(c, a["hash"], a["email_address"])
                | self._member_view(c["list_id"], a["hash"])
                | {"id": a["id"], "date": iso(a["date"])}
                for a in self.abuse.get(c["id"], [])]

    # -- seeding -----------------------------------------------------------------------
    SEED_KEYS = ("reset", "api_keys", "lists", "members", "segments", "campaigns", "reports",
                 "email_activity", "unsubscribes", "abuse_reports", "sent_to")

    def seed(self, data: dict) -> dict:
        """Add a scenario; all or nothing. Raises ValueError with a readable message.

        Every key is optional; ``list_id`` defaults to the demo audience, times are ISO 8601::

            {"reset": true,                      # start from the default account
             "api_keys": ["<32 hex>-us6"],
             "lists": [{"id", "name", "contact", "campaign_defaults", "date_created",
                        "double_optin", "merge_fields": [{"tag", "name", "type", "required"}]}],
             "members": [{"list_id", "email_address", "status", "merge_fields", "vip",
                          "language", "timestamp_opt", "last_changed", "unsubscribe_reason",
                          "compliance", "tags": ["name"]}],
             "segments": [{"list_id", "name", "static_segment": ["email"] | "options": {}}],
             "campaigns": [{"id", "list_id", "segment_id", "title", "subject_line",
                            "from_name", "reply_to", "type", "status", "create_time",
                            "send_time", "emails_sent"}],
             "reports": [{"campaign_id", <report fields to override, deep-merged>}],
             "email_activity": [{"campaign_id", "email_address",
                                 "activity": [{"action", "timestamp", "type", "url", "ip"}]}],
             "unsubscribes": [{"campaign_id", "email_address", "timestamp", "reason"}],
             "abuse_reports": [{"campaign_id", "email_address", "date"}],
             "sent_to": [{"campaign_id", "email_address", "status", "open_count",
                          "last_open"}]}

        Unsubscribes and abuse reports unsubscribe the member, and hard bounces clean it,
        with the compliance flag set, as they would on the real service.
        """
        if not isinstance(data, dict):
            raise ValueError("the seed must be a JSON object")
        unknown = set(data) - set(self.SEED_KEYS)
        if unknown:
            raise ValueError(f"unknown seed keys: {', '.join(sorted(unknown))}")
        self.changed()
        saved = {k: copy.deepcopy(v) for k, v in vars(self).items()
                 if k not in ("lock", "clock", "_views")}
        try:
            return self._seed(data)
        except (ApiError, ValueError, TypeError, KeyError, AttributeError) as exc:
            vars(self).update(saved)
            self.changed()
            detail = exc.detail if isinstance(exc, ApiError) else str(exc)
            raise ValueError(f"{type(exc).__name__}: {detail} {exc_errors(exc)}".strip()) from exc

    def _seed(self, data: dict) -> dict:
        if data.get("reset"):
            self.reset()
        for key in data.get("api_keys", []):
            self.add_api_key(key)
        lists = [self.add_list(item)["id"] for item in data.get("lists", [])]
        for item in data.get("members", []):
            self._seed_member(item)
        segments = []
        for item in data.get("segments", []):
            list_id = item.get("list_id", DEFAULT_LIST_ID)
            segment = self.create_segment(list_id, {k: v for k, v in item.items()
                                                    if k in ("name", "static_segment",
                                                             "options")})
            segments.append({"list_id": list_id, "id": segment["id"], "name": segment["name"]})
        campaigns = [self._seed_campaign(item) for item in data.get("campaigns", [])]
        for item in data.get("reports", []):
            cid = self.get_campaign(item["campaign_id"])["id"]
            overrides = {k: v for k, v in item.items() if k != "campaign_id"}
            self.report_overrides[cid] = _deep_merge(self.report_overrides.get(cid, {}),
                                                     overrides)
        for item in data.get("email_activity", []):
            self._seed_activity(item)
        for item in data.get("unsubscribes", []):
            self._seed_opt_out(item, "unsubscribes", SELF_UNSUBSCRIBE)
        for item in data.get("abuse_reports", []):
            self._seed_opt_out(item, "abuse", "The emails are spam and should be reported")
        for item in data.get("sent_to", []):
            c = self.get_campaign(item["campaign_id"])
            self.sent_to.setdefault(c["id"], []).append(
                {"hash": subscriber_hash(item["email_address"]),
                 "email_address": item["email_address"], "status": item.get("status", "sent"),
                 "open_count": int(item.get("open_count", 0)),
                 "last_open": parse_time(item.get("last_open"), "last_open")})
        return {"lists": lists, "segments": segments, "campaigns": campaigns,
                "members": len(data.get("members", [])), "api_keys": sorted(self.api_keys)}

    def _seed_member(self, item: dict) -> None:
        list_id = self.get_list(item.get("list_id", DEFAULT_LIST_ID))["id"]
        email, status = item["email_address"], item.get("status", "subscribed")
        if status not in MEMBER_STATUSES:
            raise ValueError(f"member status {status!r} is not one of {MEMBER_STATUSES}")
        member = self.find_member(list_id, email) or self._new_member(list_id, email)
        self._write(list_id, member, item, None, True)
        now = self.clock.now()
        member["status"] = status
        member["timestamp_opt"] = member["timestamp_opt"] or (
            now if status == "subscribed" else None)
        member["last_changed"] = parse_time(item.get("last_changed"), "last_changed") or now
        if status == "unsubscribed":
            member["unsubscribe_reason"] = item.get("unsubscribe_reason") or SELF_UNSUBSCRIBE
        member["compliance"] = bool(item.get(
            "compliance", status == "cleaned" or (
                status == "unsubscribed" and member["unsubscribe_reason"] != ADMIN_UNSUBSCRIBE)))
        self._insert(list_id, member)
        for name in item.get("tags", []):
            self._segment_by_name(list_id, str(name))["hashes"][member["hash"]] = True

    def _seed_campaign(self, item: dict) -> str:
        list_id = self.get_list(item.get("list_id", DEFAULT_LIST_ID))["id"]
        n = self._next("n")
        cid = item.get("id") or _hex("campaign", n)
        if cid in self.campaigns:
            raise ValueError(f"campaign {cid} already exists")
        status = item.get("status", "sent")
        if status not in ("save", "paused", "schedule", "sending", "sent", "canceled",
                          "canceling", "archived"):
            raise ValueError(f"campaign status {status!r} is not valid")
        segment_id = item.get("segment_id")
        if segment_id is not None:
            segment_id = self.get_segment(list_id, segment_id)["id"]
        now = self.clock.now()
        send_time = parse_time(item.get("send_time"), "send_time") or (
            now if status == "sent" else None)
        defaults = self.lists[list_id]["campaign_defaults"]
        title = item.get("title") or f"Campaign {n}"
        self.campaigns[cid] = {
            "id": cid, "web_id": self._next("web"), "type": item.get("type", "regular"),
            "status": status, "list_id": list_id, "segment_id": segment_id,
            "create_time": parse_time(item.get("create_time"), "create_time")
            or (send_time - timedelta(hours=1) if send_time else now),
            "send_time": send_time,
            "emails_sent": int(item["emails_sent"]) if "emails_sent" in item else None,
            "settings": {"subject_line": item.get("subject_line", title),
                         "preview_text": item.get("preview_text", ""), "title": title,
                         "from_name": item.get("from_name", defaults["from_name"]),
                         "reply_to": item.get("reply_to", defaults["from_email"]),
                         "use_conversation": False, "to_name": "", "folder_id": "",
                         "authenticate": True, "auto_footer": False, "inline_css": False,
                         "auto_tweet": False, "fb_comments": True, "timewarp": False,
                         "template_id": 0, "drag_and_drop": True}}
        return cid

    def _seed_activity(self, item: dict) -> None:
        c = self.get_campaign(item["campaign_id"])
        email = item["email_address"]
        h = subscriber_hash(email)
        entry = self.activity.setdefault(c["id"], {}).setdefault(
            h, {"hash": h, "email_address": email, "events": []})
        events = item.get("activity")
        if events is None:
            events = [{k: item[k] for k in ("action", "timestamp", "type", "url", "ip")
                       if k in item}]
        for ev in events:
            if ev.get("action") not in ("open", "click", "bounce"):
                raise ValueError(f"activity action {ev.get('action')!r} is not open|click|bounce")
            when = parse_time(ev.get("timestamp"), "timestamp") or self.clock.now()
            event = {"action": ev["action"], "timestamp": when, "ip": ev.get("ip", "")}
            if ev["action"] == "bounce":
                event["type"] = ev.get("type", "hard")
            if ev["action"] == "click":
                event["url"] = ev.get("url", "https://listbridge.test/")
            entry["events"].append(event)
            member = self.members[c["list_id"]].get(h)
            # A hard bounce cleans the address, which the member import must then see.
            if event.get("type") == "hard" and member and member["status"] != "archived":
                member.update(status="cleaned", compliance=True, last_changed=when)
        entry["events"].sort(key=lambda ev: ev["timestamp"])

    def _seed_opt_out(self, item: dict, bucket: str, reason: str) -> None:
        c = self.get_campaign(item["campaign_id"])
        email, h = item["email_address"], subscriber_hash(item["email_address"])
        field = "date" if bucket == "abuse" else "timestamp"
        when = parse_time(item.get(field), field) or self.clock.now()
        row = {"hash": h, "email_address": email, field: when,
               "reason": item.get("reason", reason)}
        if bucket == "abuse":
            row["id"] = self._next("abuse")
        getattr(self, bucket).setdefault(c["id"], []).append(row)
        member = self.members[c["list_id"]].get(h)
        if member and member["status"] in ("subscribed", "pending", "transactional"):
            member.update(status="unsubscribed", unsubscribe_reason=row["reason"],
                          compliance=True, last_changed=when)


def exc_errors(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    return str(errors) if errors else ""


def _render_event(ev: dict) -> dict:
    body = {"action": ev["action"], "timestamp": iso(ev["timestamp"]), "ip": ev["ip"]}
    for key in ("type", "url"):
        if key in ev:
            body[key] = ev[key]
    return body


def _deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _row_error(email: str, code: str, error: str, field: str = "", message: str = "") -> dict:
    return {"email_address": email, "error": error, "error_code": code, "field": field or "",
            "field_message": message or ""}


def _snapshot(member: dict) -> dict:
    """What ``_write`` compares against: a shallow copy, plus the dicts it updates in place.

    ``merge_fields`` is replaced, never mutated, so sharing it is safe; a deep copy of
    the whole member per write was most of a batch subscribe's cost.
    """
    return member | {"interests": dict(member["interests"]),
                     "location": dict(member["location"])}
