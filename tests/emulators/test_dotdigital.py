"""Contract tests for the Dotdigital v2 emulator, over real HTTP, checked against the spec."""

from __future__ import annotations

import base64
import csv
import io
import threading
import time
from urllib.parse import quote

import jsonschema
import pytest
import requests

from tests.emulators.conftest import ApiSession
from tests.emulators.spec_check import assert_request_matches
from tests.emulators.spec_check import assert_response_matches

# The NSwag document declares no error responses; this is the v2 error body (contracts A.5).
ERROR_BODY = {"type": "object", "required": ["message"],
              "properties": {"message": {"type": "string", "minLength": 1}}}


@pytest.fixture
def api(dotdigital_api) -> ApiSession:
    return dotdigital_api


@pytest.fixture
def spec(dotdigital_spec) -> dict:
    return dotdigital_spec


def check(spec, response, method, template, status):
    assert response.status_code == status, response.text
    assert_response_matches(spec, method, template, response)
    return response.json() if response.content and "json" in response.headers["Content-Type"] \
        else response.content


def api_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    jsonschema.validate(body, ERROR_BODY)
    assert code in body["message"]
    return body["message"]


def control(base, path, data=None):
    response = requests.post(f"{base}/_emulator/{path}", json=data or {}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def seed(base, **data):
    return control(base, "dotdigital/seed", data)


def upload(api, book_id, csv_text, filename="contacts.csv"):
    files = {"file": (filename, csv_text.encode(), "text/csv")}
    return api.post(f"/v2/address-books/{book_id}/contacts/import", files=files)


def finish(api, spec, import_id):
    """Poll until the import leaves NotFinished (default: second poll)."""
    for _ in range(5):
        body = check(spec, api.get(f"/v2/contacts/import/{import_id}"), "get",
                     "/v2/contacts/import/{importId}", 200)
        if body["status"] != "NotFinished":
            return body["status"]
    return "NotFinished"


def book_emails(api, book_id):
    return sorted(c["email"] for c in api.get(f"/v2/address-books/{book_id}/contacts").json())


# --------------------------------------------------------------------------- account, auth
def test_account_info_reports_own_base_url_for_region_discovery(api, spec, dotdigital_server):
    body = check(spec, api.get("/v2/account-info"), "get", "/v2/account-info", 200)
    props = {p["name"]: p for p in body["properties"]}
    assert props["ApiEndpoint"]["value"] == dotdigital_server
    assert all(isinstance(p["value"], str) for p in body["properties"])
    before = int(props["ApiCallsRemaining"]["value"])
    again = {p["name"]: p["value"] for p in api.get("/v2/account-info").json()["properties"]}
    assert int(again["ApiCallsRemaining"]) == before - 1


def test_wrong_or_missing_credentials_get_401(dotdigital_server):
    for auth in (None, ("demo@apiconnector.com", "wrong"), ("nobody@apiconnector.com", "x")):
        response = requests.get(f"{dotdigital_server}/v2/address-books", auth=auth, timeout=5)
        assert response.status_code == 401
        assert response.json() == {"message": "Authorization has been denied for this request."}
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert "X-RateLimit-Limit" in response.headers


def test_seeded_api_user_can_log_in(dotdigital_server):
    seed(dotdigital_server, users={"apiuser-1@apiconnector.com": "s3cret-pass"})
    ok = requests.get(f"{dotdigital_server}/v2/data-fields", timeout=5,
                      auth=("apiuser-1@apiconnector.com", "s3cret-pass"))
    assert ok.status_code == 200
    control(dotdigital_server, "reset")
    gone = requests.get(f"{dotdigital_server}/v2/data-fields", timeout=5,
                        auth=("apiuser-1@apiconnector.com", "s3cret-pass"))
    assert gone.status_code == 401


def test_unknown_route_and_method_use_web_api_messages(api):
    assert "No HTTP resource was found" in api_error(api.get("/v2/nothing-here"), 404, "")
    message = api_error(api.patch("/v2/address-books"), 405, "")
    assert "does not support http method 'PATCH'" in message


# --------------------------------------------------------------------------- address books
def test_address_books_page_with_select_and_skip(api, spec, dotdigital_server):
    seed(dotdigital_server, address_books=[{"name": f"Book {i}"} for i in range(5)])
    template = "/v2/address-books"
    pages = [check(spec, api.get(template, params={"select": 3, "skip": skip}), "get", template,
                   200) for skip in (0, 3, 6, 9)]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    names = [b["name"] for page in pages for b in page]
    assert names[:2] == ["Test", "All Contacts"]
    assert sorted(names[2:]) == [f"Book {i}" for i in range(5)]
    assert len({b["id"] for page in pages for b in page}) == 7
    for bad in (0, 1001, "ten"):
        api_error(api.get(template, params={"select": bad}), 400, "ERROR_PARAMETER_INVALID")
    assert len(api.get(template, params={"select": 1000}).json()) == 7


def test_create_get_update_delete_address_book(api, spec):
    body = {"name": "Spring leads", "visibility": "Public"}
    assert_request_matches(spec, "post", "/v2/address-books", body)
    created = check(spec, api.post("/v2/address-books", json=body), "post", "/v2/address-books",
                    201)
    assert created["name"] == "Spring leads" and created["visibility"] == "Public"
    assert created["contacts"] == 0
    one = f"/v2/address-books/{created['id']}"
    assert check(spec, api.get(one), "get", "/v2/address-books/{id}", 200) == created
    # Magento sends PascalCase members; the default visibility is Private.
    other = api.post("/v2/address-books", json={"Name": "Autumn"}).json()
    assert other["visibility"] == "Private"
    renamed = check(spec, api.put(one, json={"name": "Spring 2", "visibility": "Private"}), "put",
                    "/v2/address-books/{id}", 200)
    assert renamed["name"] == "Spring 2"
    check(spec, api.delete(one), "delete", "/v2/address-books/{id}", 200)
    api_error(api.get(one), 404, "ERROR_ADDRESSBOOK_NOT_FOUND")
    assert "Spring 2" not in [b["name"] for b in api.get("/v2/address-books").json()]


def test_duplicate_and_invalid_address_books_are_refused(api, spec):
    api.post("/v2/address-books", json={"name": "Customers"})
    for name in ("customers", "Test", "All Contacts"):
        message = api_error(api.post("/v2/address-books", json={"name": name}), 400,
                            "ERROR_ADDRESSBOOK_DUPLICATE")
        assert message == "Error: ERROR_ADDRESSBOOK_DUPLICATE"
    api_error(api.post("/v2/address-books", json={"name": "x", "visibility": "Secret"}), 400,
              "ERROR_ADDRESSBOOK_INVALID")
    api_error(api.post("/v2/address-books", json={"name": ""}), 400, "ERROR_ADDRESSBOOK_INVALID")
    test_book = next(b for b in api.get("/v2/address-books").json() if b["name"] == "Test")
    api_error(api.delete(f"/v2/address-books/{test_book['id']}"), 400,
              "ERROR_ADDRESSBOOK_NOTWRITABLE")
    assert len(api.get("/v2/address-books").json()) == 3


# --------------------------------------------------------------------------- contacts
def test_contact_create_and_lookup_by_email_or_id(api, spec):
    body = {"Email": "Ann+news@Example.com", "OptInType": "Single", "EmailType": "Html",
            "DataFields": [{"Key": "FIRSTNAME", "Value": "Ann"}]}
    assert_request_matches(spec, "post", "/v2/contacts", {"email": "a@b.co", "optInType": "Single",
                                                          "dataFields": [{"key": "FIRSTNAME",
                                                                          "value": "Ann"}]})
    created = check(spec, api.post("/v2/contacts", json=body), "post", "/v2/contacts", 201)
    assert created["email"] == "ann+news@example.com"
    assert created["status"] == "Subscribed"
    assert {"key": "FIRSTNAME", "value": "Ann"} in created["dataFields"]
    by_email = check(spec, api.get("/v2/contacts/" + quote("ann+news@example.com", safe="@")),
                     "get", "/v2/contacts/{email}", 200)
    by_id = check(spec, api.get(f"/v2/contacts/{created['id']}"), "get", "/v2/contacts/{id}", 200)
    assert by_email == by_id == created
    # Posting again updates the same contact instead of creating a second one.
    again = api.post("/v2/contacts", json={"email": "ann+news@example.com",
                                           "dataFields": [{"key": "lastname", "value": "Lee"}]})
    assert again.status_code == 201 and again.json()["id"] == created["id"]
    assert api.get("/v2/contacts/count").json() == 1
    api_error(api.get("/v2/contacts/nobody@example.com"), 404, "ERROR_CONTACT_NOT_FOUND")
    api_error(api.post("/v2/contacts", json={"email": "not-an-email"}), 400,
              "ERROR_CONTACT_INVALID")
    api_error(api.post("/v2/contacts", json={"email": "b@example.com",
                                             "dataFields": [{"key": "SHOE", "value": 1}]}),
              400, "ERROR_DATAFIELD_NOTFOUND")


def test_book_contacts_are_paged_and_full_data_is_optional(api, spec, dotdigital_server):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}])["address_books"]["Leads"]
    template = "/v2/address-books/{addressBookId}/contacts"
    for i in range(5):
        body = {"email": f"c{i}@example.com",
                "dataFields": [{"key": "FIRSTNAME", "value": f"C{i}"}]}
        assert_request_matches(spec, "post", template, body)
        check(spec, api.post(f"/v2/address-books/{book}/contacts", json=body), "post", template,
              200)
    url = f"/v2/address-books/{book}/contacts"
    first = check(spec, api.get(url, params={"select": 2}), "get", template, 200)
    rest = check(spec, api.get(url, params={"select": 2, "skip": 2, "withFullData": "true"}),
                 "get", template, 200)
    last = api.get(url, params={"select": 2, "skip": 4}).json()
    assert [len(first), len(rest), len(last)] == [2, 2, 1]
    assert len({c["email"] for c in first + rest + last}) == 5
    assert all(c["dataFields"] is None for c in first)
    assert all(isinstance(c["dataFields"], list) for c in rest)
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 5
    all_contacts = next(b for b in api.get("/v2/address-books").json()
                        if b["name"] == "All Contacts")
    assert all_contacts["contacts"] == 5
    api_error(api.get("/v2/address-books/999999/contacts"), 404, "ERROR_ADDRESSBOOK_NOT_FOUND")


def test_modified_since_accepts_every_date_form(api, spec, dotdigital_server):
    ids = seed(dotdigital_server, address_books=[{"name": "Leads"}], contacts=[
        {"email": "old@example.com", "created": "2020-01-01T00:00:00Z", "address_books": ["Leads"]},
        {"email": "new@example.com", "created": "2024-06-01T12:00:00Z",
         "address_books": ["Leads"]}])
    book = ids["address_books"]["Leads"]
    # Older than both seeds: the book membership date is the contact's modified date.
    template = "/v2/address-books/{addressBookId}/contacts/modified-since/{date}"
    for date in ("2024-01-01", "2024-01-01T00:00:00+0000", "2024-01-01T00:00:00Z",
                 "2024-01-01T01:00:00+01:00"):
        body = check(spec, api.get(f"/v2/address-books/{book}/contacts/modified-since/{date}"),
                     "get", template, 200)
        assert [c["email"] for c in body] == ["new@example.com"], date
    account = check(spec, api.get("/v2/contacts/modified-since/2019-12-31"), "get",
                    "/v2/contacts/modified-since/{date}", 200)
    assert {c["email"] for c in account} == {"old@example.com", "new@example.com"}
    api_error(api.get("/v2/contacts/modified-since/yesterday"), 400, "ERROR_PARAMETER_INVALID")


def test_unsubscribes_and_suppressions_since(api, spec, dotdigital_server):
    ids = seed(dotdigital_server, address_books=[{"name": "Leads"}], contacts=[
        {"email": f"u{i}@example.com", "address_books": ["Leads"]} for i in range(3)] + [
        {"email": "bounced@example.com", "status": "HardBounced",
         "dateRemoved": "2024-03-01T10:00:00Z", "address_books": ["Leads"]}])
    book = ids["address_books"]["Leads"]
    body = {"email": "u0@example.com"}
    assert_request_matches(spec, "post", "/v2/address-books/{addressBookId}/contacts/unsubscribe",
                           body)
    one = check(spec, api.post(f"/v2/address-books/{book}/contacts/unsubscribe", json=body),
                "post", "/v2/address-books/{addressBookId}/contacts/unsubscribe", 200)
    assert one["reason"] == "Unsubscribed"
    assert one["suppressedContact"]["email"] == "u0@example.com"
    check(spec, api.post("/v2/contacts/unsubscribe", json={"email": "u1@example.com"}), "post",
          "/v2/contacts/unsubscribe", 200)

    url = f"/v2/address-books/{book}/contacts/unsubscribed-since/1971-01-01"
    in_book = check(spec, api.get(url), "get",
                    "/v2/address-books/{addressBookId}/contacts/unsubscribed-since/{date}", 200)
    assert {(r["suppressedContact"]["email"], r["reason"]) for r in in_book} == {
        ("u0@example.com", "Unsubscribed"), ("u1@example.com", "Unsubscribed"),
        ("bounced@example.com", "HardBounced")}
    suppressed = check(spec, api.get("/v2/contacts/suppressed-since/2024-01-01"), "get",
                       "/v2/contacts/suppressed-since/{date}", 200)
    # The book-only unsubscribe leaves u0 subscribed at account level.
    assert {r["suppressedContact"]["email"] for r in suppressed} == {
        "u1@example.com", "bounced@example.com"}
    unsubscribed = check(spec, api.get("/v2/contacts/unsubscribed-since/2024-01-01"), "get",
                         "/v2/contacts/unsubscribed-since/{date}", 200)
    assert [r["suppressedContact"]["email"] for r in unsubscribed] == ["u1@example.com"]
    later = api.get("/v2/contacts/suppressed-since/2999-01-01").json()
    assert later == []
    assert book_emails(api, book) == ["bounced@example.com", "u1@example.com", "u2@example.com"]


def test_contacts_are_removed_from_a_book_singly_and_in_bulk(api, spec, dotdigital_server):
    ids = seed(dotdigital_server, address_books=[{"name": "Leads"}], contacts=[
        {"email": f"r{i}@example.com", "address_books": ["Leads"]} for i in range(4)])
    book, contacts = ids["address_books"]["Leads"], ids["contacts"]
    check(spec, api.delete(f"/v2/address-books/{book}/contacts/{contacts['r0@example.com']}"),
          "delete", "/v2/address-books/{addressBookId}/contacts/{contactId}", 204)
    bulk = [contacts["r1@example.com"], contacts["r2@example.com"]]
    assert_request_matches(spec, "post", "/v2/address-books/{addressBookId}/contacts/delete", bulk)
    started = check(spec, api.post(f"/v2/address-books/{book}/contacts/delete", json=bulk), "post",
                    "/v2/address-books/{addressBookId}/contacts/delete", 202)
    assert started["status"] == "Started"
    done = check(spec, api.get(f"/v2/contacts/deletion/{started['id']}"), "get",
                 "/v2/contacts/deletion/{deletionRequestId}", 200)
    assert done["status"] == "Completed"
    assert book_emails(api, book) == ["r3@example.com"]
    # Removal from a book keeps the contact in the account.
    assert api.get("/v2/contacts/r1@example.com").status_code == 200
    api_error(api.post(f"/v2/address-books/{book}/contacts/delete", json={"ids": [1]}), 400,
              "ERROR_MALFORMED_REQUEST")


def test_adding_a_suppressed_contact_to_a_book_is_refused(api, dotdigital_server):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}], contacts=[
        {"email": "gone@example.com", "status": "Unsubscribed"},
        {"email": "left@example.com", "unsubscribed_from": ["Leads"]}])["address_books"]["Leads"]
    url = f"/v2/address-books/{book}/contacts"
    api_error(api.post(url, json={"email": "gone@example.com"}), 400, "ERROR_CONTACT_SUPPRESSED")
    api_error(api.post(url, json={"email": "left@example.com"}), 400,
              "ERROR_CONTACT_SUPPRESSEDFORADDRESSBOOK")
    assert book_emails(api, book) == []


# --------------------------------------------------------------------------- bulk import
IMPORT_CSV = (
    "Email,FIRSTNAME,LASTNAME,OptInType,EmailType,Unmapped\r\n"
    "new.one@example.com,New,One,Single,Html,x\r\n"
    "not-an-email,Bad,Row,,,x\r\n"
    "Existing@Example.com,Eve,Updated,,PlainText,x\r\n"
    "new.one@example.com,Again,Dup,,,x\r\n"
    "double@example.com,Dee,,Double,,x\r\n"
)


def test_import_lifecycle_report_and_faults(api, spec, dotdigital_server):
    ids = seed(dotdigital_server, address_books=[{"name": "Leads"}], contacts=[
        {"email": "existing@example.com",
         "dataFields": {"FIRSTNAME": "Eve", "LASTNAME": "Old", "POSTCODE": "AB1"}}])
    book = ids["address_books"]["Leads"]
    started = check(spec, upload(api, book, IMPORT_CSV), "post",
                    "/v2/address-books/{addressBookId}/contacts/import", 202)
    assert started["status"] == "NotFinished"
    template = "/v2/contacts/import/{importId}"
    first = check(spec, api.get(f"/v2/contacts/import/{started['id']}"), "get", template, 200)
    assert first == {"id": started["id"], "status": "NotFinished"}
    assert book_emails(api, book) == []
    api_error(api.get(f"/v2/contacts/import/{started['id']}/report"), 404,
              "ERROR_IMPORT_REPORT_NOT_FOUND")
    second = check(spec, api.get(f"/v2/contacts/import/{started['id']}"), "get", template, 200)
    assert second["status"] == "Finished"

    report = check(spec, api.get(f"/v2/contacts/import/{started['id']}/report"), "get",
                   "/v2/contacts/import/{importId}/report", 200)
    assert (report["newContacts"], report["updatedContacts"], report["invalidEntries"],
            report["duplicateEmails"], report["pendingDoubleOptin"]) == (2, 1, 1, 1, 1)
    faults = api.get(f"/v2/contacts/import/{started['id']}/report-faults")
    check(spec, faults, "get", "/v2/contacts/import/{importId}/report-faults", 200)
    rows = list(csv.reader(io.StringIO(faults.content.decode("utf-8"))))
    assert rows[0] == ["Reason", "Email", "FIRSTNAME", "LASTNAME", "OptInType", "EmailType",
                       "Unmapped"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("Invalid email address", "not-an-email"),
                                               ("Duplicate", "new.one@example.com")]

    assert book_emails(api, book) == ["double@example.com", "existing@example.com",
                                      "new.one@example.com"]
    existing = api.get("/v2/contacts/existing@example.com").json()
    fields = {f["key"]: f["value"] for f in existing["dataFields"]}
    # The default merge option (Overwrite) replaces mapped fields and leaves the rest alone.
    assert fields["LASTNAME"] == "Updated" and fields["POSTCODE"] == "AB1"
    assert existing["emailType"] == "PlainText"
    assert api.get("/v2/contacts/double@example.com").json()["status"] == "PendingOptIn"


def test_import_accepts_oro_style_file_media_json(api, spec, dotdigital_server):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}])["address_books"]["Leads"]
    data = base64.b64encode(b"email,firstname\nm1@example.com,Mo\n").decode()
    assert_request_matches(spec, "post", "/v2/address-books/{addressBookId}/contacts/import",
                           {"fileName": "contacts.csv", "data": data})
    response = api.post(f"/v2/address-books/{book}/contacts/import",
                        json={"FileName": "contacts.csv", "Data": data})
    started = check(spec, response, "post", "/v2/address-books/{addressBookId}/contacts/import",
                    202)
    assert finish(api, spec, started["id"]) == "Finished"
    contact = api.get("/v2/contacts/m1@example.com").json()
    assert {"key": "FIRSTNAME", "value": "Mo"} in contact["dataFields"]
    assert book_emails(api, book) == ["m1@example.com"]


def test_import_never_resubscribes_unsubscribed_contacts(api, spec, dotdigital_server):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}], contacts=[
        {"email": "optout@example.com", "status": "Unsubscribed",
         "dataFields": {"FIRSTNAME": "Kept"}},
        {"email": "bookout@example.com", "unsubscribed_from": ["Leads"]},
        {"email": "bounce@example.com", "status": "HardBounced"}])["address_books"]["Leads"]
    csv_text = ("Email,FIRSTNAME\noptout@example.com,Changed\nbookout@example.com,B\n"
                "bounce@example.com,C\nfresh@example.com,F\n")
    started = upload(api, book, csv_text).json()
    assert finish(api, spec, started["id"]) == "Finished"
    report = api.get(f"/v2/contacts/import/{started['id']}/report").json()
    assert (report["unsubscribed"], report["hardBounced"], report["newContacts"]) == (2, 1, 1)
    faults = api.get(f"/v2/contacts/import/{started['id']}/report-faults").text
    reasons = {row[1]: row[0] for row in list(csv.reader(io.StringIO(faults)))[1:]}
    assert reasons == {"optout@example.com": "Unsubscribed", "bookout@example.com": "Unsubscribed",
                       "bounce@example.com": "Hard bounced"}
    assert book_emails(api, book) == ["fresh@example.com"]
    optout = api.get("/v2/contacts/optout@example.com").json()
    assert optout["status"] == "Unsubscribed"
    assert {"key": "FIRSTNAME", "value": "Kept"} in optout["dataFields"]


@pytest.mark.parametrize("outcome", ["RejectedByWatchdog", "Failed", "ExceedsAllowedContactLimit"])
def test_scripted_import_outcomes_apply_nothing(api, spec, dotdigital_server, outcome):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}])["address_books"]["Leads"]
    control(dotdigital_server, "dotdigital/import-outcome", {"status": outcome})
    started = upload(api, book, "Email\nx@example.com\n").json()
    assert finish(api, spec, started["id"]) == outcome
    api_error(api.get(f"/v2/contacts/import/{started['id']}/report"), 404,
              "ERROR_IMPORT_REPORT_NOT_FOUND")
    api_error(api.get("/v2/contacts/x@example.com"), 404, "ERROR_CONTACT_NOT_FOUND")
    # Only the next import was scripted.
    after = upload(api, book, "Email\ny@example.com\n").json()
    assert finish(api, spec, after["id"]) == "Finished"


def test_stuck_import_can_be_settled_by_the_test(api, spec, dotdigital_server):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}])["address_books"]["Leads"]
    control(dotdigital_server, "dotdigital/import-outcome", {"status": "NotFinished"})
    started = upload(api, book, "Email\nstuck@example.com\n").json()
    assert finish(api, spec, started["id"]) == "NotFinished"
    assert finish(api, spec, started["id"]) == "NotFinished"
    control(dotdigital_server, "dotdigital/import-outcome",
            {"import_id": started["id"], "status": "Finished"})
    assert api.get(f"/v2/contacts/import/{started['id']}").json()["status"] == "Finished"
    assert book_emails(api, book) == ["stuck@example.com"]


@pytest.mark.parametrize(("polls", "statuses"), [
    (0, ["Finished"]), (3, ["NotFinished", "NotFinished", "NotFinished", "Finished"])])
def test_import_poll_count_is_configurable(api, dotdigital_server, polls, statuses):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}],
                settings={"import_polls_before_finish": polls})["address_books"]["Leads"]
    started = upload(api, book, "Email\np@example.com\n").json()
    seen = [api.get(f"/v2/contacts/import/{started['id']}").json()["status"]
            for _ in statuses]
    assert seen == statuses


def test_import_can_finish_on_the_clock(api, dotdigital_server):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}],
                settings={"import_finish_after_seconds": 0.3})["address_books"]["Leads"]
    started = upload(api, book, "Email\nt@example.com\n").json()
    assert api.get(f"/v2/contacts/import/{started['id']}").json()["status"] == "NotFinished"
    time.sleep(0.4)
    # Any call lets a due import finish; nobody has to poll it.
    assert book_emails(api, book) == ["t@example.com"]
    assert api.get(f"/v2/contacts/import/{started['id']}").json()["status"] == "Finished"


def test_import_upload_errors(api, dotdigital_server):
    ids = seed(dotdigital_server, address_books=[{"name": "Leads"}])
    book = ids["address_books"]["Leads"]
    url = f"/v2/address-books/{book}/contacts/import"
    nameless = api.post(url, files={"file": (None, b"Email\na@example.com\n")})
    assert api_error(nameless, 400, "file must be valid") == "file must be valid"
    two = api.post(url, files=[("file", ("a.csv", b"Email\n")), ("file", ("b.csv", b"Email\n"))])
    api_error(two, 400, "ERROR_MULTI_FILE_UPLOAD_NOT_ALLOWED")
    api_error(upload(api, book, "Name,Phone\nA,1\n"), 400, "ERROR_NO_EMAIL_COLUMN")
    all_contacts = next(b for b in api.get("/v2/address-books").json()
                        if b["name"] == "All Contacts")
    api_error(upload(api, all_contacts["id"], "Email\na@example.com\n"), 400,
              "ERROR_ADDRESSBOOK_NOTWRITABLE")
    api_error(api.get("/v2/contacts/import/00000000-0000-0000-0000-000000000000"), 404,
              "ERROR_IMPORT_NOT_FOUND")
    excel = upload(api, book, "not really a spreadsheet", filename="contacts.xlsx").json()
    statuses = [api.get(f"/v2/contacts/import/{excel['id']}").json()["status"] for _ in range(2)]
    assert statuses == ["NotFinished", "InvalidFileFormat"]


def test_merge_option_only_overwrite_if_not_empty(api, spec, dotdigital_server):
    book = seed(dotdigital_server, address_books=[{"name": "Leads"}], contacts=[
        {"email": "keep@example.com", "dataFields": {"FIRSTNAME": "Kim", "LASTNAME": "Old"}}],
    )["address_books"]["Leads"]
    response = api.post(
        f"/v2/address-books/{book}/contacts/import/with-merge-option/OnlyOverwriteIfNotEmpty",
        files={"file": ("c.csv", b"Email,FIRSTNAME,LASTNAME\nkeep@example.com,,New\n")})
    started = check(spec, response, "post", "/v2/address-books/{addressBookId}/contacts/import/"
                    "with-merge-option/{mergeOption}", 202)
    assert finish(api, spec, started["id"]) == "Finished"
    fields = {f["key"]: f["value"]
              for f in api.get("/v2/contacts/keep@example.com").json()["dataFields"]}
    assert (fields["FIRSTNAME"], fields["LASTNAME"]) == ("Kim", "New")
    api_error(api.post(f"/v2/address-books/{book}/contacts/import/with-merge-option/Sometimes",
                       files={"file": ("c.csv", b"Email\n")}), 400, "ERROR_PARAMETER_INVALID")


# --------------------------------------------------------------------------- data fields
def test_data_fields_create_list_and_delete(api, spec):
    listed = check(spec, api.get("/v2/data-fields"), "get", "/v2/data-fields", 200)
    assert {"FIRSTNAME", "LASTNAME", "FULLNAME", "GENDER", "POSTCODE"} <= {
        f["name"] for f in listed}
    body = {"name": "shoe_size", "type": "Numeric", "visibility": "Public", "defaultValue": 0}
    assert_request_matches(spec, "post", "/v2/data-fields", body)
    created = check(spec, api.post("/v2/data-fields", json=body), "post", "/v2/data-fields", 201)
    assert created == {"name": "SHOE_SIZE", "type": "Numeric", "visibility": "Public",
                       "defaultValue": 0}
    assert created in api.get("/v2/data-fields").json()
    message = api_error(api.post("/v2/data-fields", json={"Name": "Shoe_Size", "Type": "String"}),
                        400, "ERROR_NON_UNIQUE_DATAFIELD")
    assert message == "Field already exists. ERROR_NON_UNIQUE_DATAFIELD"
    for bad in ({"name": "has space"}, {"name": "x" * 21}, {"name": "OK", "type": "Colour"},
                {"name": "AGE", "type": "Numeric", "defaultValue": "old"}):
        api_error(api.post("/v2/data-fields", json=bad), 400, "ERROR_DATAFIELD_INVALID")

    deleted = check(spec, api.delete("/v2/data-fields/shoe_size"), "delete",
                    "/v2/data-fields/{name}", 200)
    assert deleted == {"dependencies": [], "result": True}
    assert "SHOE_SIZE" not in {f["name"] for f in api.get("/v2/data-fields").json()}
    api_error(api.delete("/v2/data-fields/SHOE_SIZE"), 404, "ERROR_DATAFIELD_NOTFOUND")
    check(spec, api.delete("/v2/data-fields/FIRSTNAME"), "delete", "/v2/data-fields/{name}", 409)


def test_data_field_in_use_is_not_deleted(api, spec, dotdigital_server):
    seed(dotdigital_server, data_fields=[{"name": "TIER", "type": "String",
                                          "dependencies": [{"type": "Campaign", "objectId": 7}]}])
    body = check(spec, api.delete("/v2/data-fields/TIER"), "delete", "/v2/data-fields/{name}", 200)
    assert body == {"dependencies": [{"type": "Campaign", "objectId": 7}], "result": False}
    assert "TIER" in {f["name"] for f in api.get("/v2/data-fields").json()}


# --------------------------------------------------------------------------- campaigns
CAMPAIGN_SEED = {
    "address_books": [{"name": "Leads"}],
    "contacts": [{"email": f"r{i}@example.com", "address_books": ["Leads"]} for i in range(4)],
    "campaigns": [
        {"name": "Spring sale", "id": 301, "dateSent": "2024-03-01T09:00:00Z",
         "address_books": ["Leads"], "subject": "Spring is here"},
        {"name": "Draft", "id": 302, "status": "Unsent"},
    ],
    "activities": [
        {"campaign": 301, "email": "r0@example.com", "numOpens": 3, "numClicks": 2,
         "dateFirstOpened": "2024-03-01T10:00:00Z", "dateLastOpened": "2024-03-05T10:00:00Z"},
        {"campaign": 301, "email": "r1@example.com", "numOpens": 1,
         "dateFirstOpened": "2024-03-01T11:00:00Z", "dateLastOpened": "2024-03-01T11:00:00Z"},
        {"campaign": 301, "email": "r2@example.com", "hardBounced": True},
        {"campaign": 301, "email": "r3@example.com", "unsubscribed": True},
    ],
    "opens": [
        {"campaign": 301, "email": "r0@example.com", "dateOpened": "2024-03-01T10:00:00Z"},
        {"campaign": 301, "email": "r0@example.com", "dateOpened": "2024-03-05T10:00:00Z",
         "mailClient": "Gmail"},
    ],
    "clicks": [{"campaign": 301, "email": "r0@example.com", "url": "https://example.com/sale",
                "dateClicked": "2024-03-05T10:01:00Z"}],
}


def test_seeded_campaigns_are_listed_and_linked_to_books(api, spec, dotdigital_server):
    ids = seed(dotdigital_server, **CAMPAIGN_SEED)
    assert ids["campaigns"] == {"Spring sale": 301, "Draft": 302}
    listed = check(spec, api.get("/v2/campaigns", params={"select": 1}), "get", "/v2/campaigns",
                   200)
    assert [c["id"] for c in listed] == [301]
    assert [c["id"] for c in api.get("/v2/campaigns", params={"skip": 1}).json()] == [302]
    one = check(spec, api.get("/v2/campaigns/301"), "get", "/v2/campaigns/{id}", 200)
    assert (one["name"], one["subject"], one["status"]) == ("Spring sale", "Spring is here", "Sent")
    books = check(spec, api.get("/v2/campaigns/301/address-books"), "get",
                  "/v2/campaigns/{campaignId}/address-books", 200)
    assert [b["name"] for b in books] == ["Leads"]
    by_book = check(spec, api.get(f"/v2/address-books/{books[0]['id']}/campaigns"), "get",
                    "/v2/address-books/{addressBookId}/campaigns", 200)
    assert [c["id"] for c in by_book] == [301]
    api_error(api.get("/v2/campaigns/999"), 404, "ERROR_CAMPAIGN_NOT_FOUND")


def test_campaign_activities_follow_contact_changes_and_later_seeds(api, spec,
                                                                   dotdigital_server):
    # Rows are rendered once and kept: a renamed, deleted or re-seeded contact still shows.
    ids = seed(dotdigital_server, **CAMPAIGN_SEED)
    assert [r["email"] for r in api.get("/v2/campaigns/301/activities").json()] == [
        "r0@example.com", "r1@example.com", "r2@example.com", "r3@example.com"]
    api.put(f"/v2/contacts/{ids['contacts']['r1@example.com']}",
            json={"email": "renamed@example.com"})
    api.delete(f"/v2/contacts/{ids['contacts']['r2@example.com']}")
    seed(dotdigital_server, activities=[{"campaign": 301, "email": "r0@example.com",
                                         "numOpens": 9}])
    rows = check(spec, api.get("/v2/campaigns/301/activities"), "get",
                 "/v2/campaigns/{campaignId}/activities", 200)
    assert [(r["email"], r["numOpens"]) for r in rows] == [
        ("r0@example.com", 9), ("renamed@example.com", 1), ("r3@example.com", 0)]
    assert api.get("/v2/campaigns/301/activities", params={"skip": 2}).json() == rows[2:]


def test_campaign_summary_is_computed_from_activities(api, spec, dotdigital_server):
    seed(dotdigital_server, **CAMPAIGN_SEED)
    summary = check(spec, api.get("/v2/campaigns/301/summary"), "get",
                    "/v2/campaigns/{campaignId}/summary", 200)
    assert summary["dateSent"] == "2024-03-01T09:00:00.000Z"
    assert (summary["numSent"], summary["numDelivered"], summary["numHardBounces"]) == (4, 3, 1)
    assert (summary["numUniqueOpens"], summary["numOpens"], summary["numTotalOpens"]) == (2, 4, 4)
    assert (summary["numClicks"], summary["numRecipientsClicked"]) == (2, 1)
    assert summary["numUnsubscribes"] == 1
    assert summary["percentageDelivered"] == 75.0
    assert summary["percentageUniqueOpens"] == pytest.approx(66.67)
    assert summary["percentageClicksToOpens"] == 50.0
    seed(dotdigital_server, campaigns=[{"name": "Big", "id": 400,
                                        "summary": {"numSent": 10000, "numTotalSent": 10000}}])
    assert api.get("/v2/campaigns/400/summary").json()["numSent"] == 10000


def test_campaign_activities_opens_and_clicks_since_date(api, spec, dotdigital_server):
    ids = seed(dotdigital_server, **CAMPAIGN_SEED)
    rows = check(spec, api.get("/v2/campaigns/301/activities", params={"select": 3}), "get",
                 "/v2/campaigns/{campaignId}/activities", 200)
    assert [r["email"] for r in rows] == ["r0@example.com", "r1@example.com", "r2@example.com"]
    assert rows[0]["numOpens"] == 3 and rows[2]["hardBounced"] is True
    recent = check(spec, api.get("/v2/campaigns/301/activities/since-date/2024-03-02"), "get",
                   "/v2/campaigns/{campaignId}/activities/since-date/{date}", 200)
    assert [r["email"] for r in recent] == ["r0@example.com"]
    one = check(spec, api.get(f"/v2/campaigns/301/activities/{ids['contacts']['r3@example.com']}"),
                "get", "/v2/campaigns/{campaignId}/activities/{contactId}", 200)
    assert one["unsubscribed"] is True

    opens = check(spec, api.get("/v2/campaigns/301/opens"), "get",
                  "/v2/campaigns/{campaignId}/opens", 200)
    assert len(opens) == 2
    late_opens = check(spec, api.get("/v2/campaigns/301/opens/since-date/2024-03-02T00:00:00Z"),
                       "get", "/v2/campaigns/{campaignId}/opens/since-date/{date}", 200)
    assert [o["mailClient"] for o in late_opens] == ["Gmail"]
    clicks = check(spec, api.get("/v2/campaigns/301/clicks/since-date/2024-03-05"), "get",
                   "/v2/campaigns/{campaignId}/clicks/since-date/{date}", 200)
    assert [c["url"] for c in clicks] == ["https://example.com/sale"]
    assert api.get("/v2/campaigns/301/clicks/since-date/2024-03-06").json() == []
    active = check(spec, api.get("/v2/campaigns/with-activity-since/2024-03-04"), "get",
                   "/v2/campaigns/with-activity-since/{date}", 200)
    assert [c["id"] for c in active] == [301]
    assert api.get("/v2/campaigns/with-activity-since/2024-04-01").json() == []


# --------------------------------------------------------------------------- limits and faults
def test_rate_limit_headers_count_down_then_429(api, dotdigital_server):
    seed(dotdigital_server, settings={"rate_limit_per_hour": 3})
    remaining = []
    for _ in range(3):
        response = api.get("/v2/address-books")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert 0 < int(response.headers["X-RateLimit-Reset"]) <= 3600
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    over = api.post("/v2/address-books", json={"name": "Too many"})
    api_error(over, 429, "ERROR_APIUSAGE_EXCEEDED")
    assert over.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(over.headers["Retry-After"]) <= 3600
    names = [b["name"] for b in requests.get(f"{dotdigital_server}/_emulator/dotdigital/state",
                                             timeout=5).json()["address_books"]]
    assert "Too many" not in names


def test_rate_limit_window_resets_and_flat_mode_answers_400(api, dotdigital_server):
    seed(dotdigital_server, settings={"rate_limit_per_hour": 1, "rate_limit_window_seconds": 1,
                                      "rate_limit_mode": "flat"})
    assert api.get("/v2/data-fields").status_code == 200
    api_error(api.get("/v2/data-fields"), 400, "ERROR_APIUSAGE_EXCEEDED")
    time.sleep(1.1)
    response = api.get("/v2/data-fields")
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_error_fault_returns_5xx_and_changes_nothing(api, dotdigital_server):
    control(dotdigital_server, "faults", {"error_rate": 1.0, "error_status": 503,
                                          "paths": ["/v2/address-books"]})
    failed = api.post("/v2/address-books", json={"name": "Lost"})
    api_error(failed, 503, "ERROR_SYSTEM_SERVICETEMPORARILYUNAVAILABLE")
    assert api.get("/v2/data-fields").status_code == 200  # other paths are unaffected
    control(dotdigital_server, "faults", {})
    assert "Lost" not in [b["name"] for b in api.get("/v2/address-books").json()]
    calls = requests.get(f"{dotdigital_server}/_emulator/calls", timeout=5).json()
    assert {"method": "POST", "path": "/v2/address-books", "query": ""} in calls


def test_throttle_fault_looks_like_dotdigital_429(api, dotdigital_server):
    control(dotdigital_server, "faults", {"throttle_rate": 1.0, "retry_after": 7})
    response = api.get("/v2/address-books")
    api_error(response, 429, "ERROR_APIUSAGE_EXCEEDED")
    assert response.headers["Retry-After"] == "7"
    assert response.headers["X-RateLimit-Reset"] == "7"
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_concurrent_creates_get_distinct_ids(dotdigital_server):
    results = []

    def create(i):
        with ApiSession(dotdigital_server, auth=("demo@apiconnector.com", "demo-password-1")) as s:
            results.append(s.post("/v2/contacts", json={"email": f"t{i}@example.com"}).json())

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r["id"] for r in results}) == 20
