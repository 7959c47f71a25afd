"""Mailchimp Marketing API v3 emulator.

Run it with ``flask --app emulators.mailchimp run --port 5102``. The API answers under both
``/3.0/...`` and ``/<dc>/3.0/...``. A client maps the production base URL
``https://<dc>.api.mailchimp.com/3.0`` to the emulator with a template such as
``http://127.0.0.1:5102/{dc}/3.0``, where ``{dc}`` is the API key's suffix (``us21``); in the
``/<dc>/`` form the datacenter must match the key's, as the real hosts require.

Auth: HTTP Basic with any user name and the API key as password, or ``Authorization:
Bearer|OAuth|apikey <key>``. Default key: ``0123456789abcdef0123456789abcdef-us21``.

Control endpoints (no auth): ``POST /_emulator/mailchimp/seed``, ``GET /_emulator/mailchimp/info``,
``POST /_emulator/mailchimp/config`` (``max_connections``, ``max_merge_fields``),
``POST /_emulator/mailchimp/clock`` (``now``/``advance``/``release``), plus the shared
``/_emulator/faults|reset|calls``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import g
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed

from emulators import faults
from emulators.mailchimp_data import DC_RE
from emulators.mailchimp_data import DEFAULT_API_KEY
from emulators.mailchimp_data import DEFAULT_LIST_ID
from emulators.mailchimp_data import ApiError
from emulators.mailchimp_data import Clock
from emulators.mailchimp_data import Store
from emulators.mailchimp_data import bool_arg
from emulators.mailchimp_data import invalid
from emulators.mailchimp_data import not_found
from emulators.mailchimp_data import paginate
from emulators.mailchimp_data import parse_time
from emulators.mailchimp_data import time_window

ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
DEFAULT_MAX_CONNECTIONS = 10
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
          404: "Resource Not Found", 405: "Method Not Allowed", 429: "Too Many Requests",
          500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
          504: "Gateway Timeout"}
DETAILS = {404: "The requested resource could not be found.",
           405: "The requested method and resource are not compatible. See the Allow header "
                "for this resource's available methods.",
           500: "An unexpected internal error has occurred. Please contact Support for more "
                "information."}

api = Blueprint("mailchimp_api", __name__)
control = Blueprint("mailchimp_control", __name__, url_prefix="/_emulator/mailchimp")


class ConnectionLimiter:
    """Counts in-flight requests per API key (Mailchimp allows 10 simultaneous connections)."""

    def __init__(self, limit: int):
        self.default = self.limit = limit
        self._lock = threading.Lock()
        self._inflight: Counter[str] = Counter()

    def acquire(self, key: str) -> bool:
        with self._lock:
            if self._inflight[key] >= self.limit:
                return False
            self._inflight[key] += 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._inflight[key] -= 1


class Emulator:
    def __init__(self, max_connections: int):
        self.clock = Clock()
        self.store = Store(self.clock)
        self.limiter = ConnectionLimiter(max_connections)

    def reset(self) -> None:
        with self.store.lock:
            self.store.reset()
        self.clock.release()
        self.limiter.limit = self.limiter.default


def _state() -> Emulator:
    return current_app.extensions["mailchimp"]


# -- responses ---------------------------------------------------------------------------
def problem(status: int, title: str | None = None, detail: str | None = None,
            errors: list | None = None, headers: dict | None = None):
    instance = str(uuid.uuid4())
    body = {"type": ERROR_TYPE, "title": title or TITLES.get(status, "Error"), "status": status,
            "detail": detail or DETAILS.get(status, "An error occurred."), "instance": instance}
    if errors:
        body["errors"] = errors
    response = current_app.response_class(
        json.dumps(body), status=status, content_type="application/problem+json; charset=utf-8")
    response.headers["X-Request-Id"] = instance
    response.headers["Link"] = (f"<https://{_dc()}.api.mailchimp.com/schema/3.0/"
                                'ProblemDetailDocument.json>; rel="describedBy"')
    response.headers.update(headers or {})
    return response


def _throttle_response(retry_after: int):
    return problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous "
                   "connections.", headers={"Retry-After": str(retry_after)})


def _error_response(status: int):
    return problem(status)


def _ok(body: dict, status: int = 200):
    if status != 204:
        body.setdefault("_links", [{"rel": "self", "href": request.base_url, "method": "GET"}])
    body = _shape(body, request.args.get("fields"), request.args.get("exclude_fields"))
    return current_app.response_class(json.dumps(body), status=status,
                                      content_type="application/json; charset=utf-8")


def _no_content():
    return current_app.response_class(status=204)


def _shape(body, fields: str | None, exclude: str | None):
    """Apply ``fields``/``exclude_fields`` (comma-separated, dot notation) to a response."""
    if fields:
        tree: dict = {}
        for path in fields.split(","):
            node = tree
            for part in filter(None, path.strip().split(".")):
                node = node.setdefault(part, {})
        body = _keep(body, tree)
    for path in filter(None, (exclude or "").split(",")):
        _drop(body, path.strip().split("."))
    return body


def _member_keys(collection: str) -> frozenset[str] | None:
    """The member fields ``fields`` asks for under ``collection``; None means all of them."""
    fields = request.args.get("fields")
    if not fields:
        return None
    keys = set()
    for path in fields.split(","):
        parts = [p for p in path.strip().split(".") if p]
        if parts[:1] == [collection]:
            if len(parts) == 1:
                return None
            keys.add(parts[1])
    return frozenset(keys)


def _keep(value, tree: dict):
    if not tree:
        return value
    if isinstance(value, list):
        return [_keep(item, tree) for item in value]
    if isinstance(value, dict):
        return {key: _keep(value[key], sub) for key, sub in tree.items() if key in value}
    return value


def _drop(value, parts: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop(item, parts)
    elif isinstance(value, dict) and parts:
        if len(parts) == 1:
            value.pop(parts[0], None)
        else:
            _drop(value.get(parts[0]), parts[1:])


def _body() -> dict:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, "JSON Parse Error",
                       "We encountered an unspecified JSON parsing error.") from None
    if not isinstance(data, dict):
        raise invalid(field="", message="The request body must be a JSON object.")
    return data


# -- auth, datacenter and the connection limit ---------------------------------------------
def _credentials() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        auth = request.authorization
        return auth.password if auth else None
    if scheme.lower() in ("bearer", "oauth", "apikey"):
        return value.strip() or None
    return None


def _dc() -> str:
    return g.get("mc_dc") or "us21"


def _pop_dc(endpoint, values) -> None:
    if values is not None:
        g.path_dc = values.pop("dc", None)


def _track() -> None:
    # Runs before fault injection so that an injected delay counts as time in flight.
    if request.path.startswith(faults.CONTROL_PREFIX):
        return
    key = g.mc_key = _credentials()
    state = _state()
    with state.store.lock:
        known = state.store.key_dc(key) is not None
    if known:
        g.mc_over_limit = not state.limiter.acquire(key)
        if not g.mc_over_limit:
            g.mc_held = key


def _release(_exc) -> None:
    if g.get("mc_held"):
        _state().limiter.release(g.pop("mc_held"))


def _forget_views(_exc) -> None:
    # After the write, not before: a read between the two would cache the old state.
    if request.method not in SAFE_METHODS:
        store = _store()
        with store.lock:
            store.changed()


def _guard():
    if request.path.startswith(faults.CONTROL_PREFIX):
        return None
    key = g.get("mc_key")
    if not key:
        raise ApiError(401, "API Key Missing", "Your request did not include an API key.")
    with _state().store.lock:
        dc = _state().store.key_dc(key)
    if dc is None:
        raise ApiError(401, "API Key Invalid", "Your API key may be invalid, or you've "
                       "attempted to access the wrong datacenter.")
    g.mc_dc = dc
    path_dc = g.get("path_dc")
    if path_dc is not None and not DC_RE.match(path_dc):
        raise not_found()
    if path_dc is not None and path_dc != dc:
        raise ApiError(403, "Wrong Datacenter",
                       f"The API key provided is linked to datacenter '{dc}'.")
    if g.get("mc_over_limit"):
        return _throttle_response(1)
    return None


def _handle_api_error(exc: ApiError):
    return problem(exc.status, exc.title, exc.detail, exc.errors)


def _handle_http_error(exc: HTTPException):
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    status = exc.code or 500
    return problem(status, TITLES.get(status, exc.name), DETAILS.get(status, exc.description),
                   headers=headers)


def _request_id(response):
    response.headers.setdefault("X-Request-Id", str(uuid.uuid4()))
    return response


# -- the API -----------------------------------------------------------------------------
def _store() -> Store:
    return _state().store


@api.get("/ping")
def ping():
    return _ok({"health_status": "Everything's Chimpy!"})


@api.get("/lists")
def lists_index():
    store = _store()
    with store.lock:
        ids, total = paginate(store.filter_lists(request.args), request.args)
        include = bool_arg(request.args, "include_total_contacts")
        lists = [store.render_list(i, _dc(), include) for i in ids]
        limits = {"may_create": True, "max_instances": 100,
                  "current_total_instances": len(store.lists)}
    return _ok({"lists": lists, "total_items": total, "constraints": limits})


@api.get("/lists/<list_id>")
def list_detail(list_id):
    store = _store()
    with store.lock:
        store.get_list(list_id)
        body = store.render_list(list_id, _dc(),
                                 bool_arg(request.args, "include_total_contacts"))
    return _ok(body)


@api.post("/lists/<list_id>")
def list_batch_subscribe(list_id):
    body, store = _body(), _store()
    with store.lock:
        result = store.batch_subscribe(list_id, body,
                                       bool_arg(request.args, "skip_merge_validation"),
                                       bool_arg(request.args, "skip_duplicate_check"),
                                       _member_keys)
    return _ok(result)


@api.get("/lists/<list_id>/merge-fields")
def merge_fields_index(list_id):
    store = _store()
    with store.lock:
        store.get_list(list_id)
        fields = store.merge_fields[list_id]
        if request.args.get("type"):
            fields = [f for f in fields if f["type"] == request.args["type"]]
        if request.args.get("required"):
            fields = [f for f in fields
                      if f["required"] == bool_arg(request.args, "required")]
        page, total = paginate([dict(f) for f in fields], request.args)
    return _ok({"merge_fields": page, "list_id": list_id, "total_items": total})


@api.post("/lists/<list_id>/merge-fields")
def merge_fields_create(list_id):
    body, store = _body(), _store()
    with store.lock:
        store.get_list(list_id)
        field = dict(store.add_merge_field(list_id, body))
    return _ok(field)


@api.get("/lists/<list_id>/merge-fields/<int:merge_id>")
def merge_field_detail(list_id, merge_id):
    store = _store()
    with store.lock:
        store.get_list(list_id)
        found = [dict(f) for f in store.merge_fields[list_id] if f["merge_id"] == merge_id]
    if not found:
        raise not_found()
    return _ok(found[0])


@api.get("/lists/<list_id>/members")
def members_index(list_id):
    store = _store()
    with store.lock:
        page, total = paginate(store.list_members(list_id, request.args), request.args)
        keys = _member_keys("members")
        members = [store.render_member(list_id, m, keys) for m in page]
    return _ok({"members": members, "list_id": list_id, "total_items": total})


@api.post("/lists/<list_id>/members")
def members_create(list_id):
    body, store = _body(), _store()
    with store.lock:
        member = store.create_member(list_id, body,
                                     bool_arg(request.args, "skip_merge_validation"))
        return _ok(store.render_member(list_id, member))


@api.route("/lists/<list_id>/members/<subscriber_hash>", methods=["GET", "PUT", "PATCH"])
def member_detail(list_id, subscriber_hash):
    store = _store()
    body = _body() if request.method != "GET" else {}
    skip = bool_arg(request.args, "skip_merge_validation")
    with store.lock:
        if request.method == "GET":
            member = store.get_member(list_id, subscriber_hash)
        elif request.method == "PUT":
            member, _created = store.upsert_member(list_id, subscriber_hash, body, skip)
        else:
            member = store.update_member(list_id, subscriber_hash, body, skip)
        return _ok(store.render_member(list_id, member))


@api.delete("/lists/<list_id>/members/<subscriber_hash>")
def member_archive(list_id, subscriber_hash):
    store = _store()
    with store.lock:
        store.archive_member(list_id, subscriber_hash)
    return _no_content()


@api.post("/lists/<list_id>/members/<subscriber_hash>/actions/delete-permanent")
def member_delete_permanent(list_id, subscriber_hash):
    store = _store()
    with store.lock:
        store.delete_permanent(list_id, subscriber_hash)
    return _no_content()


@api.get("/lists/<list_id>/segments")
def segments_index(list_id):
    store = _store()
    with store.lock:
        store.get_list(list_id)
        segments = list(store.segments[list_id].values())
        if request.args.get("type"):
            segments = [s for s in segments if s["type"] == request.args["type"]]
        for name in ("created_at", "updated_at"):
            segments = time_window(segments, request.args, name, lambda s, n=name: s[n])
        page, total = paginate(segments, request.args)
        body = [store.render_segment(list_id, s) for s in page]
    return _ok({"segments": body, "list_id": list_id, "total_items": total})


@api.post("/lists/<list_id>/segments")
def segments_create(list_id):
    body, store = _body(), _store()
    with store.lock:
        return _ok(store.render_segment(list_id, store.create_segment(list_id, body)))


@api.route("/lists/<list_id>/segments/<segment_id>",
           methods=["GET", "POST", "PATCH", "DELETE"])
def segment_detail(list_id, segment_id):
    store = _store()
    body = _body() if request.method in ("POST", "PATCH") else {}
    with store.lock:
        if request.method == "POST":
            return _ok(store.segment_batch(list_id, segment_id, body, _member_keys))
        if request.method == "DELETE":
            store.delete_segment(list_id, segment_id)
            return _no_content()
        if request.method == "PATCH":
            segment = store.update_segment(list_id, segment_id, body)
        else:
            segment = store.get_segment(list_id, segment_id)
        return _ok(store.render_segment(list_id, segment))


@api.get("/lists/<list_id>/segments/<segment_id>/members")
def segment_members(list_id, segment_id):
    store = _store()
    with store.lock:
        segment = store.get_segment(list_id, segment_id)
        page, total = paginate(store.segment_members(list_id, segment, request.args),
                               request.args)
        keys = _member_keys("members")
        members = [store.render_member(list_id, m, keys) for m in page]
    return _ok({"members": members, "total_items": total})


@api.get("/lists/<list_id>/abuse-reports")
def list_abuse_reports(list_id):
    store = _store()
    with store.lock:
        store.get_list(list_id)
        rows = [row for c in store.campaigns.values() if c["list_id"] == list_id
                for row in store.abuse_rows(c)]
        page, total = paginate(rows, request.args)
    return _ok({"abuse_reports": page, "list_id": list_id, "total_items": total})


@api.get("/campaigns")
def campaigns_index():
    store = _store()
    with store.lock:
        page, total = paginate(store.filter_campaigns(request.args), request.args)
        campaigns = [store.render_campaign(c, _dc()) for c in page]
    return _ok({"campaigns": campaigns, "total_items": total})


@api.get("/campaigns/<campaign_id>")
def campaign_detail(campaign_id):
    store = _store()
    with store.lock:
        return _ok(store.render_campaign(store.get_campaign(campaign_id), _dc()))


@api.get("/reports")
def reports_index():
    store = _store()
    with store.lock:
        page, total = paginate(store.filter_campaigns(request.args, sent_only=True),
                               request.args)
        reports = [store.render_report(c) for c in page]
    return _ok({"reports": reports, "total_items": total})


@api.get("/reports/<campaign_id>")
def report_detail(campaign_id):
    store = _store()
    with store.lock:
        return _ok(store.render_report(store.get_campaign(campaign_id, sent_only=True)))


def _report_rows(campaign_id: str, key: str, rows_for, **extra):
    store = _store()
    with store.lock:
        campaign = store.get_campaign(campaign_id, sent_only=True)
        page, total = paginate(rows_for(store, campaign), request.args)
    return _ok({key: page, "campaign_id": campaign_id, "total_items": total, **extra})


@api.get("/reports/<campaign_id>/email-activity")
def report_email_activity(campaign_id):
    since = parse_time(request.args.get("since"), "since")
    return _report_rows(campaign_id, "emails", lambda s, c: s.email_activity(c, since))


@api.get("/reports/<campaign_id>/sent-to")
def report_sent_to(campaign_id):
    return _report_rows(campaign_id, "sent_to", lambda s, c: s.sent_to_rows(c))


@api.get("/reports/<campaign_id>/unsubscribed")
def report_unsubscribed(campaign_id):
    return _report_rows(campaign_id, "unsubscribes", lambda s, c: s.unsubscribe_rows(c))


@api.get("/reports/<campaign_id>/abuse-reports")
def report_abuse(campaign_id):
    return _report_rows(campaign_id, "abuse_reports", lambda s, c: s.abuse_rows(c))


# -- control endpoints -------------------------------------------------------------------
def _control_error(message: str, status: int = 400):
    return current_app.response_class(json.dumps({"error": message}), status=status,
                                      content_type="application/json")


@control.post("/seed")
def control_seed():
    try:
        data = json.loads(request.get_data() or b"{}")
        with _store().lock:
            summary = _store().seed(data)
    except ValueError as exc:
        return _control_error(str(exc))
    return current_app.json.response(summary)


@control.get("/info")
def control_info():
    state, root = _state(), request.host_url.rstrip("/")
    with state.store.lock:
        keys = sorted(state.store.api_keys)
        dcs = sorted({state.store.key_dc(k) for k in keys})
    return current_app.json.response(
        api_keys=keys, datacenters=dcs, default_api_key=DEFAULT_API_KEY,
        default_list_id=DEFAULT_LIST_ID, base_url=f"{root}/3.0",
        base_url_template=f"{root}/{{dc}}/3.0",
        base_urls={dc: f"{root}/{dc}/3.0" for dc in dcs},
        max_connections=state.limiter.limit, now=state.clock.now().isoformat())


@control.post("/config")
def control_config():
    data = request.get_json(force=True, silent=True) or {}
    if "max_merge_fields" in data:
        fields = data["max_merge_fields"]
        if fields is not None and (not isinstance(fields, int) or fields < 1):
            return _control_error("max_merge_fields must be a positive integer or null")
        with _store().lock:
            _store().max_merge_fields = fields
        if "max_connections" not in data:
            return current_app.json.response(max_merge_fields=fields)
    limit = data.get("max_connections")
    if not isinstance(limit, int) or limit < 1:
        return _control_error("max_connections must be a positive integer")
    _state().limiter.limit = limit
    return current_app.json.response(max_connections=limit)


@control.post("/clock")
def control_clock():
    data, clock = request.get_json(force=True, silent=True) or {}, _state().clock
    try:
        if data.get("release"):
            clock.release()
        if data.get("now"):
            clock.set(parse_time(data["now"], "now"))
        if data.get("advance"):
            clock.advance(float(data["advance"]))
    except (ApiError, TypeError, ValueError) as exc:
        return _control_error(f"bad clock setting: {exc}")
    return current_app.json.response(now=clock.now().isoformat())


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config["MAILCHIMP_MAX_CONNECTIONS"] = DEFAULT_MAX_CONNECTIONS
    app.config.update(config or {})
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    state = Emulator(app.config["MAILCHIMP_MAX_CONNECTIONS"])
    app.extensions["mailchimp"] = state
    app.url_value_preprocessor(_pop_dc)
    app.before_request(_track)
    faults.install(app, faults.FaultInjector(_throttle_response, _error_response), state.reset)
    app.before_request(_guard)
    app.teardown_request(_release)
    app.teardown_request(_forget_views)
    app.after_request(_request_id)
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_blueprint(api, url_prefix="/3.0")
    app.register_blueprint(api, url_prefix="/<dc>/3.0", name="mailchimp_api_dc")
    app.register_blueprint(control)
    return app


app = create_app()
