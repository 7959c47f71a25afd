"""Dotdigital API v2 emulator: a local contract fake for the Listbridge sync code and tests.

Run it with ``flask --app emulators.dotdigital run``; tests call ``create_app()`` for a fresh
instance. The wire format follows ``dotdigital-v2-openapi.json`` (NSwag) and the research
notes in ``api-contracts.md`` part A. Every ``/v2`` call needs HTTP Basic auth (default user
``demo@apiconnector.com`` / ``demo-password-1``) and is counted against an hourly limit, whose
state every answer reports in ``X-RateLimit-*`` headers.

Control endpoints (no auth, not counted, not fault-injected):

``POST /_emulator/dotdigital/seed`` adds to the current state; every key is optional::

    {"users": {"user@apiconnector.com": "secret"},
     "settings": {"rate_limit_per_hour": 2000, "rate_limit_window_seconds": 3600,
                  "rate_limit_mode": "tiered" | "flat", "import_polls_before_finish": 1,
                  "import_finish_after_seconds": null, "max_active_imports": 25,
                  "api_endpoint": null},
     "account": {"id": 409001, "name": "...", "main_email": "..."},
     "data_fields": [{"name": "SHOESIZE", "type": "Numeric", "visibility": "Private",
                      "defaultValue": 0, "dependencies": [{"type": "Campaign", "objectId": 7}]}],
     "address_books": [{"name": "Newsletter", "visibility": "Public", "id": 77}],
     "contacts": [{"email": "a@example.com", "id": 9, "status": "Unsubscribed",
                   "dataFields": [{"key": "FIRSTNAME", "value": "Ann"}],
                   "address_books": ["Newsletter" or 77], "unsubscribed_from": [...],
                   "created": "...", "modified": "...", "dateRemoved": "..."}],
     "campaigns": [{"name": "Spring", "id": 301, "status": "Sent", "dateSent": "...",
                    "address_books": ["Newsletter"], "subject": "...", "fromName": "...",
                    "summary": {"numSent": 1000}}],
     "activities": [{"campaign": "Spring" or 301, "email": "a@example.com", "numOpens": 2,
                     "numClicks": 1, "dateSent": "...", "dateFirstOpened": "...",
                     "dateLastOpened": "...", "unsubscribed": false, "hardBounced": false}],
     "opens": [{"campaign": 301, "email": "...", "dateOpened": "...", "mailClient": "..."}],
     "clicks": [{"campaign": 301, "email": "...", "dateClicked": "...", "url": "..."}]}

It answers with the ids given out: ``{"address_books": {name: id}, "contacts": {email: id},
"campaigns": {name: id}}``.

``POST /_emulator/dotdigital/import-outcome`` scripts imports: ``{"status": "Failed",
"count": 1, "polls": 0}`` queues the terminal status of the next imports (``"NotFinished"``
keeps them stuck); ``{"import_id": "...", "status": "Finished"}`` settles one at once.
``GET /_emulator/dotdigital/state`` dumps everything. ``/_emulator/faults``, ``/_emulator/reset``
and ``/_emulator/calls`` come from ``emulators.faults``.

Imports apply their rows when they reach Finished: by default on the second status poll of
``GET /v2/contacts/import/{id}`` (the spec's path; the old PyPI client's ``/imports/`` is wrong),
or, with ``import_finish_after_seconds``, on the first API call after that delay.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import time
from collections.abc import Sequence

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException

from emulators import dotdigital_oauth
from emulators import faults
from emulators.dotdigital_data import MERGE_OPTIONS
from emulators.dotdigital_data import ApiError
from emulators.dotdigital_data import DotdigitalState
from emulators.dotdigital_data import enum_value
from emulators.dotdigital_data import error
from emulators.dotdigital_data import parse_date

API_PREFIX = "/v2"
CONTROL = "/_emulator/dotdigital/"
MAX_PAGE = 1000
OVER_LIMIT = ("Your account has generated excess API activity and is being temporarily capped. "
              "Please contact support. ERROR_APIUSAGE_EXCEEDED")

api = Blueprint("dotdigital_v2", __name__, url_prefix=API_PREFIX)


def _state() -> DotdigitalState:
    return current_app.extensions["dotdigital"]


def route(rule: str, methods=("GET",)):
    """Register an API view that runs with the state lock held and gets the state passed in."""
    def decorator(fn):
        @functools.wraps(fn)
        def view(**kwargs):
            state = _state()
            with state.lock:
                return fn(state, **kwargs)
        api.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=list(methods))
        return fn
    return decorator


# --------------------------------------------------------------------------- request helpers
def paged(items: list) -> list:
    def number(name, default):
        raw = request.args.get(name)
        try:
            return default if raw in (None, "") else int(raw)
        except ValueError:
            raise error("ERROR_PARAMETER_INVALID") from None

    select, skip = number("select", MAX_PAGE), number("skip", 0)
    if not 1 <= select <= MAX_PAGE or skip < 0:
        raise ApiError(400, f"select must be between 1 and {MAX_PAGE}, skip 0 or more. "
                            "ERROR_PARAMETER_INVALID")
    return items[skip:skip + select]


def paged_json(texts: Sequence[str]) -> Response:
    """A page of rows kept as JSON texts: joining them is far cheaper than encoding dicts."""
    return Response("[" + ",".join(paged(texts)) + "]\n", mimetype="application/json")


def since(text: str):
    value = parse_date(text)
    if value is None:
        raise ApiError(400, f"'{text}' is not a valid date. ERROR_PARAMETER_INVALID")
    return value


def full_data() -> bool:
    return request.args.get("withFullData", "").lower() == "true"


def body_json():
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "The request body is not valid JSON. ERROR_MALFORMED_REQUEST")
    return data


def read_upload() -> tuple[str, bytes]:
    """The file of an import call: one multipart part with a filename, or ApiFileMedia JSON."""
    if request.mimetype == "multipart/form-data":
        files = [f for key in request.files for f in request.files.getlist(key)]
        if len(files) > 1:
            raise error("ERROR_MULTI_FILE_UPLOAD_NOT_ALLOWED")
        if not files or not files[0].filename:
            raise ApiError(400, "file must be valid")
        return files[0].filename, files[0].read()
    if request.mimetype in ("application/json", "text/json"):
        media = {str(k).lower(): v for k, v in (body_json() or {}).items()}
        if not media.get("filename") or not media.get("data"):
            raise ApiError(400, "file must be valid")
        try:
            return str(media["filename"]), base64.b64decode(media["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise error("ERROR_BODY_DOES_NOT_MATCH_CONTENT_TYPE") from None
    raise error("ERROR_CONTENT_TYPE_IS_NOT_SUPPORTED")


def merge_option(text: str) -> str:
    return enum_value(text, MERGE_OPTIONS, "ERROR_PARAMETER_INVALID")


def contacts_json(state: DotdigitalState, contacts: list) -> list:
    return [state.contact_json(c, full=full_data()) for c in paged(contacts)]


# --------------------------------------------------------------------------- account
@route("/account-info")
def account_info(state):
    endpoint = state.settings["api_endpoint"] or request.host_url.rstrip("/")
    limit = state.settings["rate_limit_per_hour"]
    props = [
        ("Name", "String", state.account["name"]),
        ("MainEmail", "String", state.account["main_email"]),
        ("ApiEndpoint", "String", endpoint),
        ("ApiCallsInLastHour", "Int", str(state.window_calls)),
        ("ApiCallsRemaining", "Int", str(max(0, limit - state.window_calls))),
        ("AvailableEmailSendsCredits", "Int", "100000"),
        ("CurrencyCode", "String", "GBP"),
        ("APILocale", "String", "en-GB"),
        ("TimeZoneIana", "String", "Europe/London"),
        ("ShowClock", "Boolean", "False"),
    ]
    return {"id": state.account["id"],
            "properties": [{"name": n, "type": t, "value": v} for n, t, v in props]}


# --------------------------------------------------------------------------- address books
def _books(state, visibility=None):
    books = [state.book_json(state.books[i]) for i in sorted(state.books)]
    return paged([b for b in books if visibility in (None, b["visibility"])])


@route("/address-books")
def list_books(state):
    return _books(state)


@route("/address-books/private")
def list_private_books(state):
    return _books(state, "Private")


@route("/address-books/public")
def list_public_books(state):
    return _books(state, "Public")


@route("/address-books", methods=("POST",))
def create_book(state):
    return state.create_book(body_json()), 201


@route("/address-books/<int:book_id>")
def get_book(state, book_id):
    return state.book_json(state.book(book_id))


@route("/address-books/<int:book_id>", methods=("PUT",))
def update_book(state, book_id):
    return state.update_book(book_id, body_json())


@route("/address-books/<int:book_id>", methods=("DELETE",))
def delete_book(state, book_id):
    state.delete_book(book_id)
    return Response(status=200, mimetype="application/octet-stream")


@route("/address-books/<int:book_id>/contacts")
def book_contacts(state, book_id):
    return contacts_json(state, state.book_contacts(state.book(book_id)))


@route("/address-books/<int:book_id>/contacts", methods=("POST",))
def add_book_contact(state, book_id):
    contact = state.add_to_book(state.writable_book(book_id), body_json())
    return state.contact_json(contact)


@route("/address-books/<int:book_id>/contacts", methods=("DELETE",))
def clear_book(state, book_id):
    state.writable_book(book_id)["members"].clear()
    return Response(status=204)


@route("/address-books/<int:book_id>/contacts/<int:contact_id>", methods=("DELETE",))
def remove_book_contact(state, book_id, contact_id):
    state.remove_from_book(state.writable_book(book_id), contact_id)
    return Response(status=204)


@route("/address-books/<int:book_id>/contacts/delete", methods=("POST",))
def bulk_remove_book_contacts(state, book_id):
    return state.bulk_remove(state.writable_book(book_id), body_json()), 202


@route("/address-books/<int:book_id>/contacts/delete-all", methods=("POST",))
def bulk_clear_book(state, book_id):
    book = state.writable_book(book_id)
    return state.bulk_remove(book, sorted(book["members"])), 202


@route("/address-books/<int:book_id>/contacts/modified-since/<date>")
def book_contacts_modified(state, book_id, date):
    return contacts_json(state, state.modified_since(since(date), state.book(book_id)))


@route("/address-books/<int:book_id>/contacts/unsubscribed-since/<date>")
def book_unsubscribed(state, book_id, date):
    return paged(state.suppressed_since(since(date), state.book(book_id)))


@route("/address-books/<int:book_id>/contacts/unsubscribe", methods=("POST",))
def book_unsubscribe(state, book_id):
    return state.unsubscribe(body_json(), state.writable_book(book_id))


@route("/address-books/<int:book_id>/contacts/import", methods=("POST",))
def import_to_book(state, book_id):
    book = state.writable_book(book_id)
    return state.create_import(book, *read_upload()), 202


@route("/address-books/<int:book_id>/contacts/import/with-merge-option/<merge>",
       methods=("POST",))
def import_to_book_merge(state, book_id, merge):
    book = state.writable_book(book_id)
    option = merge_option(merge)
    return state.create_import(book, *read_upload(), merge=option), 202


@route("/address-books/<int:book_id>/campaigns")
def book_campaigns(state, book_id):
    return paged([state.campaign_json(c) for c in state.book_campaigns(state.book(book_id))])


# --------------------------------------------------------------------------- contacts
@route("/contacts")
def list_contacts(state):
    return contacts_json(state, sorted(state.contacts.values(), key=lambda c: c["id"]))


@route("/contacts", methods=("POST",))
def create_contact(state):
    contact, _ = state.upsert_contact(body_json())
    return state.contact_json(contact), 201


@route("/contacts/count")
def count_contacts(state):
    return jsonify(len(state.contacts))


@route("/contacts/<ident>")
def get_contact(state, ident):
    return state.contact_json(state.find_contact(ident))


@route("/contacts/<int:contact_id>", methods=("PUT",))
def update_contact(state, contact_id):
    return state.contact_json(state.update_contact(contact_id, body_json()))


@route("/contacts/<int:contact_id>", methods=("DELETE",))
def delete_contact(state, contact_id):
    state.delete_contact(contact_id)
    return Response(status=204)


@route("/contacts/<int:contact_id>/address-books")
def contact_books(state, contact_id):
    contact = state.find_contact(str(contact_id))
    return paged([state.book_json(b) for _, b in sorted(state.books.items())
                  if contact["id"] in b["members"]])


@route("/contacts/modified-since/<date>")
def contacts_modified(state, date):
    return contacts_json(state, state.modified_since(since(date)))


@route("/contacts/created-since/<date>")
def contacts_created(state, date):
    cutoff = since(date)
    return contacts_json(state, [c for c in sorted(state.contacts.values(), key=lambda c: c["id"])
                                 if c["created"] >= cutoff])


@route("/contacts/unsubscribed-since/<date>")
def contacts_unsubscribed(state, date):
    return paged(state.suppressed_since(since(date), reasons=frozenset({"Unsubscribed"})))


@route("/contacts/suppressed-since/<date>")
def contacts_suppressed(state, date):
    return paged(state.suppressed_since(since(date)))


@route("/contacts/unsubscribe", methods=("POST",))
def unsubscribe_contact(state):
    return state.unsubscribe(body_json())


@route("/contacts/import", methods=("POST",))
def import_contacts(state):
    return state.create_import(None, *read_upload()), 202


@route("/contacts/import/with-merge-option/<merge>", methods=("POST",))
def import_contacts_merge(state, merge):
    option = merge_option(merge)
    return state.create_import(None, *read_upload(), merge=option), 202


@route("/contacts/import/<import_id>")
def import_status(state, import_id):
    return state.poll_import(import_id)


@route("/contacts/import/<import_id>/report")
def import_report(state, import_id):
    return state.import_report(import_id)


@route("/contacts/import/<import_id>/report-faults")
def import_report_faults(state, import_id):
    return Response(state.import_faults_csv(import_id).encode("utf-8"),
                    mimetype="application/octet-stream")


@route("/contacts/deletion/<deletion_id>")
def deletion_status(state, deletion_id):
    return state.deletion(deletion_id)


# --------------------------------------------------------------------------- data fields
@route("/data-fields")
def list_data_fields(state):
    return [state.field_json(f) for _, f in sorted(state.data_fields.items())]


@route("/data-fields", methods=("POST",))
def create_data_field(state):
    # NSwag declares 201 without a body; the developer hub echoes the field, so echo it.
    return state.create_data_field(body_json()), 201


@route("/data-fields/<name>", methods=("DELETE",))
def delete_data_field(state, name):
    return state.delete_data_field(name)


# --------------------------------------------------------------------------- campaigns
@route("/campaigns")
def list_campaigns(state):
    return paged([state.campaign_json(c) for c in state.sorted_campaigns()])


@route("/campaigns/with-activity-since/<date>")
def campaigns_with_activity(state, date):
    return paged([state.campaign_json(c)
                  for c in state.campaigns_with_activity_since(since(date))])


@route("/campaigns/<int:campaign_id>")
def get_campaign(state, campaign_id):
    return state.campaign_json(state.campaign_ref(campaign_id))


@route("/campaigns/<int:campaign_id>/address-books")
def campaign_books(state, campaign_id):
    campaign = state.campaign_ref(campaign_id)
    return paged([state.book_json(state.books[i]) for i in campaign["book_ids"]
                  if i in state.books])


@route("/campaigns/<int:campaign_id>/summary")
def campaign_summary(state, campaign_id):
    return state.summary(state.campaign_ref(campaign_id))


@route("/campaigns/<int:campaign_id>/activities")
def campaign_activities(state, campaign_id):
    return paged_json(state.activities_for(state.campaign_ref(campaign_id)))


@route("/campaigns/<int:campaign_id>/activities/since-date/<date>")
def campaign_activities_since(state, campaign_id, date):
    return paged_json(state.activities_for(state.campaign_ref(campaign_id), since(date)))


@route("/campaigns/<int:campaign_id>/activities/<int:contact_id>")
def campaign_contact_activity(state, campaign_id, contact_id):
    campaign = state.campaign_ref(campaign_id)
    row = state.activities.get((campaign["id"], contact_id))
    if row is None or contact_id not in state.contacts:
        raise error("ERROR_CONTACT_NOT_FOUND", 404)
    return state.activity_json(contact_id, row)


@route("/campaigns/<int:campaign_id>/<any(opens, clicks):kind>")
def campaign_events(state, campaign_id, kind):
    return paged(state.events_for(kind, state.campaign_ref(campaign_id)))


@route("/campaigns/<int:campaign_id>/<any(opens, clicks):kind>/since-date/<date>")
def campaign_events_since(state, campaign_id, kind, date):
    return paged(state.events_for(kind, state.campaign_ref(campaign_id), since(date)))


# --------------------------------------------------------------------------- cross-cutting
def _json_error(status: int, body: dict, headers: dict | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def throttle_response(retry_after: int) -> Response:
    limit = _state().settings["rate_limit_per_hour"]
    return _json_error(429, {"message": OVER_LIMIT}, {
        "Retry-After": str(retry_after), "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(retry_after)})


def error_response(status: int) -> Response:
    if status == 503:
        return _json_error(503, {"message": "The service is temporarily unavailable. "
                                            "ERROR_SYSTEM_SERVICETEMPORARILYUNAVAILABLE"})
    return _json_error(status, {"message": "An error has occurred."})


def _is_api() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _password_ok(users: dict, username: str, password: str) -> bool:
    expected = next((p for u, p in users.items() if u.lower() == (username or "").lower()), None)
    return expected is not None and hmac.compare_digest(expected.encode(),
                                                        (password or "").encode())


def _guard():
    """Basic auth, then the call quota, for every /v2 request."""
    if not _is_api():
        return None
    state = _state()
    auth = request.authorization
    with state.lock:
        if auth is None or auth.type != "basic" or not _password_ok(
                state.users, auth.username, auth.password):
            return _json_error(401, {"message": "Authorization has been denied for this request."},
                               {"WWW-Authenticate": 'Basic realm="apiconnector.com"'})
        if state.take_call(time.time()):
            state.settle_due_imports()
            return None
        headers = state.rate_headers(time.time())
        if state.settings["rate_limit_mode"] == "flat":
            return _json_error(400, {"message": OVER_LIMIT})
    return _json_error(429, {"message": OVER_LIMIT},
                       {"Retry-After": headers["X-RateLimit-Reset"]})


def _rate_headers(response: Response) -> Response:
    if _is_api():
        state = _state()
        with state.lock:
            headers = state.rate_headers(time.time())
        for name, value in headers.items():
            response.headers.setdefault(name, value)
    return response


def _api_error(exc: ApiError) -> Response:
    # Even the ProblemDetails conflict goes out as application/json, as the NSwag spec declares.
    return _json_error(exc.status, exc.payload())


def _http_error(exc: HTTPException):
    if not _is_api():
        return exc
    # The real service runs ASP.NET Web API; these are its stock texts.
    if exc.code == 404:
        message = f"No HTTP resource was found that matches the request URI '{request.url}'."
    elif exc.code == 405:
        message = f"The requested resource does not support http method '{request.method}'."
    else:
        message = "The request is invalid."
    return _json_error(exc.code or 500, {"message": message},
                       dict(exc.get_headers()) if exc.code == 405 else None)


def _install_control(app: Flask, state: DotdigitalState) -> None:
    @app.post(CONTROL + "seed")
    def dotdigital_seed():
        try:
            return jsonify(state.seed(request.get_json(force=True) or {}))
        except ApiError as exc:
            return jsonify(error=exc.message), 400
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify(error=f"{type(exc).__name__}: {exc}"), 400

    @app.post(CONTROL + "import-outcome")
    def dotdigital_import_outcome():
        try:
            with state.lock:
                return jsonify(state.set_outcome(request.get_json(force=True) or {}))
        except ApiError as exc:
            return jsonify(error=exc.message), exc.status
        except (TypeError, ValueError) as exc:
            return jsonify(error=str(exc)), 400

    @app.get(CONTROL + "state")
    def dotdigital_state():
        with state.lock:
            return jsonify(state.dump())


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024  # the documented import file limit
    app.config.update(config or {})
    app.json.sort_keys = False
    state = DotdigitalState()
    app.extensions["dotdigital"] = state
    faults.install(app, faults.FaultInjector(throttle_response, error_response), state.reset)
    app.before_request(_guard)
    app.after_request(_rate_headers)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_blueprint(api)
    _install_control(app, state)
    dotdigital_oauth.install(app)  # SSO: OAuth2/authorise.aspx, Tokens.ashx, the app
    return app


app = create_app()
