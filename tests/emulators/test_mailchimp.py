"""The Mailchimp emulator over real HTTP, checked against the Marketing API v3 OpenAPI document."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from emulators.mailchimp_data import DEFAULT_API_KEY
from emulators.mailchimp_data import DEFAULT_LIST_ID
from tests.emulators.spec_check import assert_response_matches

LIST = DEFAULT_LIST_ID
MEMBERS = "/lists/{listId}/members"
MEMBER = "/lists/{listId}/members/{subscriberHash}"
SEGMENTS = "/lists/{listId}/segments"
SEGMENT = "/lists/{listId}/segments/{segmentId}"
OTHER_KEY = "fedcba9876543210fedcba9876543210-us6"


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


@pytest.fixture
def check(mailchimp_spec):
    """Assert a response matches the spec, then hand back its JSON body (None when empty)."""

    def _check(response, method: str, template: str, status: int = 200):
        assert response.status_code == status, response.text
        assert_response_matches(mailchimp_spec, method, template, response)
        return response.json() if response.content else None

    return _check


@pytest.fixture
def control(mailchimp_server):
    """POST to a control endpoint of the running emulator."""

    def _post(path: str, payload: dict) -> dict:
        response = requests.post(f"{mailchimp_server}/_emulator/{path}", json=payload, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    return _post


def assert_problem(response, status: int, title: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert (body["status"], body["title"]) == (status, title)
    assert response.headers["X-Request-Id"] == body["instance"]
    return body


def batch(api, members, **options):
    return api.post(f"/lists/{LIST}", json={"members": members, **options})


def subscribe(api, *emails, status="subscribed"):
    result = batch(api, [{"email_address": e, "status": status} for e in emails]).json()
    assert result["total_created"] == len(emails), result


# -- health, auth, datacenter, errors -------------------------------------------------------
def test_ping_reports_chimpy_health(mailchimp_api, check):
    body = check(mailchimp_api.get("/ping"), "get", "/ping")
    assert body["health_status"] == "Everything's Chimpy!"


@pytest.mark.parametrize(("headers", "auth", "title"), [
    ({}, None, "API Key Missing"),
    ({}, ("any", "00000000000000000000000000000000-us21"), "API Key Invalid"),
    ({"Authorization": "Bearer not-a-key"}, None, "API Key Invalid"),
])
def test_bad_credentials_are_401_problem_json(mailchimp_server, mailchimp_spec, headers, auth,
                                              title):
    response = requests.get(f"{mailchimp_server}/3.0/lists", headers=headers, auth=auth,
                            timeout=5)
    assert_problem(response, 401, title)
    assert_response_matches(mailchimp_spec, "get", "/lists", response)


@pytest.mark.parametrize("scheme", ["Bearer", "OAuth", "apikey"])
def test_token_header_schemes_accept_the_key(mailchimp_server, scheme):
    response = requests.get(f"{mailchimp_server}/3.0/ping", timeout=5,
                            headers={"Authorization": f"{scheme} {DEFAULT_API_KEY}"})
    assert response.status_code == 200


def test_datacenter_prefix_must_match_the_key(mailchimp_server):
    auth = ("user", DEFAULT_API_KEY)
    assert requests.get(f"{mailchimp_server}/us21/3.0/ping", auth=auth, timeout=5).ok
    assert_problem(requests.get(f"{mailchimp_server}/us6/3.0/ping", auth=auth, timeout=5),
                   403, "Wrong Datacenter")
    assert_problem(requests.get(f"{mailchimp_server}/US-21/3.0/ping", auth=auth, timeout=5),
                   404, "Resource Not Found")
    info = requests.get(f"{mailchimp_server}/_emulator/mailchimp/info", timeout=5).json()
    assert info["datacenters"] == ["us21"]
    assert info["base_urls"]["us21"] == f"{mailchimp_server}/us21/3.0"
    assert info["base_url_template"] == f"{mailchimp_server}/{{dc}}/3.0"


def test_seeded_key_serves_its_own_datacenter(mailchimp_server, control):
    control("mailchimp/seed", {"api_keys": [OTHER_KEY]})
    auth = ("user", OTHER_KEY)
    assert requests.get(f"{mailchimp_server}/us6/3.0/ping", auth=auth, timeout=5).ok
    assert_problem(requests.get(f"{mailchimp_server}/us21/3.0/ping", auth=auth, timeout=5),
                   403, "Wrong Datacenter")


def test_unknown_resource_and_method_are_problem_json(mailchimp_api, mailchimp_spec):
    missing = mailchimp_api.get("/lists/0000000000")
    assert_problem(missing, 404, "Resource Not Found")
    assert_response_matches(mailchimp_spec, "get", "/lists/{listId}", missing)
    assert_problem(mailchimp_api.get("/no-such-thing"), 404, "Resource Not Found")
    # Oro deletes merge fields without an id; the real API refuses that.
    refused = mailchimp_api.delete(f"/lists/{LIST}/merge-fields")
    body = assert_problem(refused, 405, "Method Not Allowed")
    assert "Allow header" in body["detail"]
    assert "POST" in refused.headers["Allow"]


def test_malformed_json_is_a_parse_error(mailchimp_api):
    response = mailchimp_api.post(f"/lists/{LIST}", data="{not json",
                                  headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "JSON Parse Error")


# -- audiences and merge fields -------------------------------------------------------------
def test_lists_page_by_count_and_offset(mailchimp_api, check, control):
    control("mailchimp/seed", {"lists": [{"name": f"Audience {i}"} for i in range(4)]})
    first = check(mailchimp_api.get("/lists", params={"count": 2}), "get", "/lists")
    rest = check(mailchimp_api.get("/lists", params={"count": 2, "offset": 2}), "get", "/lists")
    beyond = mailchimp_api.get("/lists", params={"offset": 5}).json()
    assert (first["total_items"], rest["total_items"], beyond["total_items"]) == (5, 5, 5)
    assert (len(first["lists"]), len(rest["lists"]), beyond["lists"]) == (2, 2, [])
    ids = [x["id"] for x in first["lists"] + rest["lists"]]
    assert len(set(ids)) == 4 and ids[0] == LIST
    assert len(mailchimp_api.get("/lists", params={"count": 5000}).json()["lists"]) == 5
    assert_problem(mailchimp_api.get("/lists", params={"count": "ten"}), 400, "Invalid Resource")


def test_fields_and_exclude_fields_shape_the_response(mailchimp_api):
    only = mailchimp_api.get("/lists", params={"fields": "lists.id,lists.stats.member_count,"
                                                         "total_items"}).json()
    assert only == {"lists": [{"id": LIST, "stats": {"member_count": 0}}], "total_items": 1}
    without = mailchimp_api.get(f"/lists/{LIST}", params={"exclude_fields": "stats,_links"})
    assert "stats" not in without.json() and without.json()["id"] == LIST


def test_list_detail_counts_members_by_status(mailchimp_api, check):
    subscribe(mailchimp_api, "a@listbridge.test", "b@listbridge.test")
    subscribe(mailchimp_api, "c@listbridge.test", status="unsubscribed")
    body = check(mailchimp_api.get(f"/lists/{LIST}", params={"include_total_contacts": "true"}),
                 "get", "/lists/{listId}")
    stats = body["stats"]
    assert (stats["member_count"], stats["unsubscribe_count"], stats["total_contacts"]) == (2, 1, 3)
    assert body["name"] == "Listbridge Demo Audience"


def test_default_merge_fields_and_create(mailchimp_api, check):
    path = f"/lists/{LIST}/merge-fields"
    listed = check(mailchimp_api.get(path), "get", "/lists/{listId}/merge-fields")
    assert {"FNAME", "LNAME", "ADDRESS", "PHONE"} <= {f["tag"] for f in listed["merge_fields"]}
    created = check(mailchimp_api.post(path, json={"name": "Company", "type": "text",
                                                   "tag": "e_company"}),
                    "post", "/lists/{listId}/merge-fields")
    assert (created["tag"], created["type"], created["list_id"]) == ("E_COMPANY", "text", LIST)
    again = mailchimp_api.post(path, json={"name": "Other", "type": "text", "tag": "E_COMPANY"})
    assert_problem(again, 400, "Invalid Resource")
    assert_problem(mailchimp_api.post(path, json={"name": "X", "type": "colour"}), 400,
                   "Invalid Resource")
    after = mailchimp_api.get(path).json()
    assert after["total_items"] == listed["total_items"] + 1
    member = mailchimp_api.put(f"/lists/{LIST}/members/{md5('m@listbridge.test')}", json={
        "email_address": "m@listbridge.test", "status_if_new": "subscribed",
        "merge_fields": {"E_COMPANY": "Acme", "NOT_A_TAG": "dropped"}}).json()
    assert member["merge_fields"]["E_COMPANY"] == "Acme"
    assert "NOT_A_TAG" not in member["merge_fields"]


def test_required_merge_field_unless_validation_is_skipped(mailchimp_api):
    mailchimp_api.post(f"/lists/{LIST}/merge-fields",
                       json={"name": "Region", "type": "text", "tag": "REGION", "required": True})
    member = {"email_address": "r@listbridge.test", "status": "subscribed"}
    refused = mailchimp_api.post(f"/lists/{LIST}/members", json=member)
    assert_problem(refused, 400, "Invalid Resource")
    assert refused.json()["detail"] == "Your merge fields were invalid."
    accepted = mailchimp_api.post(f"/lists/{LIST}/members", json=member,
                                  params={"skip_merge_validation": "true"})
    assert accepted.status_code == 200


# -- members ----------------------------------------------------------------------------------
def test_member_is_addressed_by_md5_of_lowercased_email(mailchimp_api, check):
    email = "Ann.Lee@Listbridge.Test"
    put = mailchimp_api.put(f"/lists/{LIST}/members/{md5(email)}",
                            json={"email_address": email, "status_if_new": "subscribed"})
    body = check(put, "put", MEMBER)
    assert body["id"] == md5(email) == hashlib.md5(b"ann.lee@listbridge.test").hexdigest()
    assert body["email_address"] == email and body["list_id"] == LIST
    by_hash = check(mailchimp_api.get(f"/lists/{LIST}/members/{md5(email)}"), "get", MEMBER)
    assert by_hash["unique_email_id"] == body["unique_email_id"]
    assert mailchimp_api.get(f"/lists/{LIST}/members/ann.lee@listbridge.test").ok
    missing = mailchimp_api.get(f"/lists/{LIST}/members/{md5('nobody@listbridge.test')}")
    assert_problem(missing, 404, "Resource Not Found")


def test_put_upsert_uses_status_if_new_only_for_new_members(mailchimp_api, check):
    url = f"/lists/{LIST}/members/{md5('p@listbridge.test')}"
    created = check(mailchimp_api.put(url, json={"email_address": "p@listbridge.test",
                                                 "status_if_new": "pending"}), "put", MEMBER)
    assert created["status"] == "pending"
    kept = mailchimp_api.put(url, json={"email_address": "p@listbridge.test",
                                        "status_if_new": "subscribed",
                                        "merge_fields": {"FNAME": "Pat"}}).json()
    assert (kept["status"], kept["merge_fields"]["FNAME"]) == ("pending", "Pat")
    changed = mailchimp_api.put(url, json={"status": "subscribed"}).json()
    assert changed["status"] == "subscribed" and changed["timestamp_opt"]


def test_put_refuses_a_new_member_without_status_or_matching_hash(mailchimp_api):
    url = f"/lists/{LIST}/members/{md5('n@listbridge.test')}"
    assert_problem(mailchimp_api.put(url, json={"email_address": "n@listbridge.test"}), 400,
                   "Invalid Resource")
    mismatch = mailchimp_api.put(url, json={"email_address": "other@listbridge.test",
                                            "status_if_new": "subscribed"})
    assert_problem(mismatch, 400, "Invalid Resource")
    assert_problem(mailchimp_api.get(url), 404, "Resource Not Found")


def test_post_of_existing_member_is_member_exists(mailchimp_api, check):
    member = {"email_address": "e@listbridge.test", "status": "subscribed"}
    check(mailchimp_api.post(f"/lists/{LIST}/members", json=member), "post", MEMBERS)
    body = assert_problem(mailchimp_api.post(f"/lists/{LIST}/members", json=member), 400,
                          "Member Exists")
    assert body["detail"].startswith("e@listbridge.test is already a list member")


def test_patch_updates_and_delete_archives(mailchimp_api, check):
    subscribe(mailchimp_api, "z@listbridge.test")
    url = f"/lists/{LIST}/members/{md5('z@listbridge.test')}"
    patched = check(mailchimp_api.patch(url, json={"merge_fields": {"LNAME": "Zed"},
                                                   "status": "unsubscribed"}), "patch", MEMBER)
    assert (patched["status"], patched["full_name"]) == ("unsubscribed", "Zed")
    assert patched["unsubscribe_reason"] == "N/A (Unsubscribed by an admin)"
    check(mailchimp_api.delete(url), "delete", MEMBER, status=204)
    assert mailchimp_api.get(url).json()["status"] == "archived"
    assert mailchimp_api.get(f"/lists/{LIST}/members").json()["total_items"] == 0
    archived = mailchimp_api.get(f"/lists/{LIST}/members", params={"status": "archived"}).json()
    assert [m["email_address"] for m in archived["members"]] == ["z@listbridge.test"]
    assert_problem(mailchimp_api.delete(url), 405, "Method Not Allowed")


def test_delete_permanent_forgets_the_address_for_good(mailchimp_api, check):
    subscribe(mailchimp_api, "gone@listbridge.test")
    url = f"/lists/{LIST}/members/{md5('gone@listbridge.test')}"
    check(mailchimp_api.post(f"{url}/actions/delete-permanent"), "post",
          f"{MEMBER}/actions/delete-permanent", status=204)
    assert_problem(mailchimp_api.get(url), 404, "Resource Not Found")
    readd = mailchimp_api.put(url, json={"email_address": "gone@listbridge.test",
                                         "status_if_new": "subscribed"})
    assert_problem(readd, 400, "Forgotten Email Not Subscribed")
    result = batch(mailchimp_api, [{"email_address": "gone@listbridge.test",
                                    "status": "subscribed"}]).json()
    assert result["error_count"] == 1 and result["errors"][0]["error_code"] == "ERROR_GENERIC"


def test_members_filter_by_status_and_page(mailchimp_api, check):
    subscribe(mailchimp_api, *(f"s{i}@listbridge.test" for i in range(5)))
    subscribe(mailchimp_api, "u@listbridge.test", status="unsubscribed")
    subscribe(mailchimp_api, "c@listbridge.test", status="cleaned")
    page = check(mailchimp_api.get(f"/lists/{LIST}/members",
                                   params={"status": "subscribed", "count": 2, "offset": 4}),
                 "get", MEMBERS)
    assert page["total_items"] == 5 and [m["email_address"] for m in page["members"]] == [
        "s4@listbridge.test"]
    both = mailchimp_api.get(f"/lists/{LIST}/members",
                             params={"status": "unsubscribed,cleaned"}).json()
    assert {m["status"] for m in both["members"]} == {"unsubscribed", "cleaned"}
    assert_problem(mailchimp_api.get(f"/lists/{LIST}/members", params={"status": "gone"}), 400,
                   "Invalid Resource")


def test_since_last_changed_returns_only_later_changes(mailchimp_api, control):
    control("mailchimp/clock", {"now": "2026-03-01T09:00:00+00:00"})
    subscribe(mailchimp_api, "a@listbridge.test", "b@listbridge.test", "c@listbridge.test")
    control("mailchimp/clock", {"advance": 3600})
    mailchimp_api.patch(f"/lists/{LIST}/members/{md5('b@listbridge.test')}",
                        json={"merge_fields": {"FNAME": "Bea"}})
    # A write that changes nothing must not move last_changed.
    mailchimp_api.put(f"/lists/{LIST}/members/{md5('c@listbridge.test')}",
                      json={"status": "subscribed"})
    changed = mailchimp_api.get(f"/lists/{LIST}/members",
                                params={"since_last_changed": "2026-03-01T09:30:00+00:00"}).json()
    assert [m["email_address"] for m in changed["members"]] == ["b@listbridge.test"]
    assert changed["total_items"] == 1
    assert changed["members"][0]["last_changed"] == "2026-03-01T10:00:00+00:00"
    before = mailchimp_api.get(f"/lists/{LIST}/members",
                               params={"before_last_changed": "2026-03-01T09:30:00Z"}).json()
    assert before["total_items"] == 2


# -- batch subscribe ----------------------------------------------------------------------------
def test_batch_subscribe_accepts_500_and_refuses_501(mailchimp_api, check):
    members = [{"email_address": f"m{i}@listbridge.test", "status": "subscribed"}
               for i in range(501)]
    refused = batch(mailchimp_api, members)
    assert_problem(refused, 400, "Invalid Resource")
    check(refused, "post", "/lists/{listId}", status=400)
    assert mailchimp_api.get(f"/lists/{LIST}/members").json()["total_items"] == 0
    body = check(batch(mailchimp_api, members[:500]), "post", "/lists/{listId}")
    assert (body["total_created"], body["total_updated"], body["error_count"]) == (500, 0, 0)
    assert len(body["new_members"]) == 500


def test_batch_without_update_existing_leaves_existing_members(mailchimp_api, check, control):
    control("mailchimp/seed", {"members": [
        {"email_address": "sub@listbridge.test", "merge_fields": {"FNAME": "Old"}},
        {"email_address": "unsub@listbridge.test", "status": "unsubscribed"}]})
    body = check(batch(mailchimp_api, [
        {"email_address": "sub@listbridge.test", "status": "subscribed",
         "merge_fields": {"FNAME": "New"}},
        {"email_address": "unsub@listbridge.test", "status": "subscribed"},
        {"email_address": "new@listbridge.test", "status": "subscribed", "list_id": "ignored"},
    ], update_existing=False), "post", "/lists/{listId}")
    assert (body["total_created"], body["total_updated"], body["error_count"]) == (1, 0, 2)
    assert {e["error_code"] for e in body["errors"]} == {"ERROR_CONTACT_EXISTS"}
    assert {e["email_address"] for e in body["errors"]} == {"sub@listbridge.test",
                                                            "unsub@listbridge.test"}
    sub = mailchimp_api.get(f"/lists/{LIST}/members/{md5('sub@listbridge.test')}").json()
    unsub = mailchimp_api.get(f"/lists/{LIST}/members/{md5('unsub@listbridge.test')}").json()
    assert sub["merge_fields"]["FNAME"] == "Old" and unsub["status"] == "unsubscribed"


def test_batch_update_existing_respects_compliance_state(mailchimp_api, check, control):
    control("mailchimp/seed", {"members": [
        {"email_address": "self@listbridge.test", "status": "unsubscribed"},
        {"email_address": "admin@listbridge.test", "status": "unsubscribed",
         "unsubscribe_reason": "N/A (Unsubscribed by an admin)"},
        {"email_address": "leave@listbridge.test"},
        {"email_address": "keep@listbridge.test", "status": "pending"}]})
    body = check(batch(mailchimp_api, [
        {"email_address": "self@listbridge.test", "status": "subscribed"},
        {"email_address": "admin@listbridge.test", "status": "subscribed"},
        {"email_address": "leave@listbridge.test", "status": "unsubscribed"},
        {"email_address": "keep@listbridge.test", "status_if_new": "subscribed"},
    ], update_existing=True), "post", "/lists/{listId}")
    assert (body["total_updated"], body["error_count"]) == (3, 1)
    assert body["errors"][0]["email_address"] == "self@listbridge.test"
    assert "compliance state" in body["errors"][0]["error"]
    statuses = {m["email_address"]: m["status"] for m in mailchimp_api.get(
        f"/lists/{LIST}/members", params={"count": 10}).json()["members"]}
    assert statuses == {"self@listbridge.test": "unsubscribed",
                        "admin@listbridge.test": "subscribed",
                        "leave@listbridge.test": "unsubscribed",
                        "keep@listbridge.test": "pending"}
    direct = mailchimp_api.patch(f"/lists/{LIST}/members/{md5('self@listbridge.test')}",
                                 json={"status": "subscribed"})
    assert_problem(direct, 400, "Member In Compliance State")
    pending = mailchimp_api.patch(f"/lists/{LIST}/members/{md5('self@listbridge.test')}",
                                  json={"status": "pending"})
    assert pending.json()["status"] == "pending"


def test_batch_duplicates_and_bad_rows_are_per_row_errors(mailchimp_api):
    rows = [{"email_address": "d@listbridge.test", "status": "subscribed"},
            {"email_address": "D@listbridge.test", "status": "unsubscribed"},
            {"email_address": "not-an-email", "status": "subscribed"},
            {"email_address": "nostatus@listbridge.test"}]
    body = batch(mailchimp_api, rows).json()
    assert (body["total_created"], body["error_count"]) == (1, 3)
    assert "fake or invalid" in body["errors"][1]["error"]
    skipped = batch(mailchimp_api, [{"email_address": "x@listbridge.test", "status": "pending"},
                                    {"email_address": "X@listbridge.test", "status": "subscribed"}],
                    ).json()
    assert skipped["error_count"] == 1
    first_wins = mailchimp_api.post(
        f"/lists/{LIST}", params={"skip_duplicate_check": "true"},
        json={"members": [{"email_address": "y@listbridge.test", "status": "pending"},
                          {"email_address": "Y@listbridge.test", "status": "subscribed"}]}).json()
    assert first_wins["error_count"] == 0
    assert first_wins["new_members"][0]["status"] == "pending"


# -- segments -------------------------------------------------------------------------------------
def make_segment(api, name="Newsletter", emails=()):
    response = api.post(f"/lists/{LIST}/segments",
                        json={"name": name, "static_segment": list(emails)})
    assert response.status_code == 200, response.text
    return response.json()


def test_static_segment_create_and_unique_name(mailchimp_api, check):
    subscribe(mailchimp_api, "a@listbridge.test")
    created = check(mailchimp_api.post(f"/lists/{LIST}/segments", json={
        "name": "VIP", "static_segment": ["a@listbridge.test", "stranger@listbridge.test"]}),
        "post", SEGMENTS)
    assert (created["type"], created["member_count"], created["list_id"]) == ("static", 1, LIST)
    clash = mailchimp_api.post(f"/lists/{LIST}/segments", json={"name": "VIP",
                                                                 "static_segment": []})
    body = assert_problem(clash, 400, "Invalid Resource")
    assert body["detail"] == "Sorry, that tag already exists."
    assert_problem(mailchimp_api.post(f"/lists/{LIST}/segments", json={"name": "No kind"}), 400,
                   "Invalid Resource")
    listed = check(mailchimp_api.get(f"/lists/{LIST}/segments"), "get", SEGMENTS)
    assert [s["name"] for s in listed["segments"]] == ["VIP"] and listed["total_items"] == 1
    url = f"/lists/{LIST}/segments/{created['id']}"
    assert check(mailchimp_api.get(url), "get", SEGMENT)["name"] == "VIP"
    renamed = check(mailchimp_api.patch(url, json={"name": "VIPs"}), "patch", SEGMENT)
    assert renamed["name"] == "VIPs" and renamed["member_count"] == 1
    tags = mailchimp_api.get(f"/lists/{LIST}/members/{md5('a@listbridge.test')}").json()["tags"]
    assert tags == [{"id": created["id"], "name": "VIPs"}]
    check(mailchimp_api.delete(url), "delete", SEGMENT, status=204)
    assert_problem(mailchimp_api.get(url), 404, "Resource Not Found")


def test_segment_members_add_and_remove(mailchimp_api, check):
    subscribe(mailchimp_api, "a@listbridge.test", "b@listbridge.test", "c@listbridge.test")
    segment = make_segment(mailchimp_api)
    url = f"/lists/{LIST}/segments/{segment['id']}"
    added = check(mailchimp_api.post(url, json={
        "members_to_add": ["a@listbridge.test", "B@listbridge.test", "ghost@listbridge.test"]}),
        "post", SEGMENT)
    assert (added["total_added"], added["total_removed"], added["error_count"]) == (2, 0, 1)
    assert added["errors"][0]["email_addresses"] == ["ghost@listbridge.test"]
    assert {m["email_address"] for m in added["members_added"]} == {"a@listbridge.test",
                                                                   "b@listbridge.test"}
    again = mailchimp_api.post(url, json={"members_to_add": ["a@listbridge.test"]}).json()
    assert (again["total_added"], again["error_count"]) == (0, 0)
    removed = mailchimp_api.post(url, json={"members_to_remove": ["a@listbridge.test",
                                                                  "c@listbridge.test"]}).json()
    assert (removed["total_removed"], removed["error_count"]) == (1, 0)
    members = check(mailchimp_api.get(f"{url}/members"), "get", f"{SEGMENT}/members")
    assert [m["email_address"] for m in members["members"]] == ["b@listbridge.test"]
    assert mailchimp_api.get(url).json()["member_count"] == 1


def test_segment_edits_are_limited_to_500_emails_each(mailchimp_api):
    segment = make_segment(mailchimp_api)
    url = f"/lists/{LIST}/segments/{segment['id']}"
    emails = [f"m{i}@listbridge.test" for i in range(501)]
    subscribe(mailchimp_api, *emails[:500])
    assert_problem(mailchimp_api.post(url, json={"members_to_add": emails}), 400,
                   "Invalid Resource")
    assert_problem(mailchimp_api.post(url, json={"members_to_remove": emails}), 400,
                   "Invalid Resource")
    assert mailchimp_api.get(url).json()["member_count"] == 0
    ok = mailchimp_api.post(url, json={"members_to_add": emails[:500]}).json()
    assert ok["total_added"] == 500


def test_segment_members_hide_unsubscribed_unless_asked(mailchimp_api):
    subscribe(mailchimp_api, "in@listbridge.test")
    subscribe(mailchimp_api, "out@listbridge.test", status="unsubscribed")
    segment = make_segment(mailchimp_api, emails=["in@listbridge.test", "out@listbridge.test"])
    url = f"/lists/{LIST}/segments/{segment['id']}/members"
    assert mailchimp_api.get(url).json()["total_items"] == 1
    assert mailchimp_api.get(url, params={"include_unsubscribed": "true"}).json()[
        "total_items"] == 2
    assert segment["member_count"] == 1


def test_saved_segment_refuses_static_edits(mailchimp_api):
    saved = mailchimp_api.post(f"/lists/{LIST}/segments", json={
        "name": "Openers", "options": {"match": "any", "conditions": []}}).json()
    assert saved["type"] == "saved"
    refused = mailchimp_api.post(f"/lists/{LIST}/segments/{saved['id']}",
                                 json={"members_to_add": []})
    assert_problem(refused, 400, "Invalid Resource")


# -- campaigns and reports ------------------------------------------------------------------
SCENARIO = {
    "lists": [{"id": "b2b0000001", "name": "B2B"}],
    "members": [{"email_address": f"r{i}@listbridge.test"} for i in range(4)],
    "segments": [{"name": "Spring", "static_segment": ["r0@listbridge.test"]}],
    "campaigns": [
        {"id": "c000000001", "title": "Spring sale", "subject_line": "Spring!",
         "send_time": "2026-03-02T10:00:00+00:00", "emails_sent": 4, "segment_id": 10001},
        {"id": "c000000002", "title": "Autumn", "send_time": "2026-09-01T10:00:00+00:00"},
        {"id": "c000000003", "title": "Draft", "status": "save"},
        {"id": "c000000004", "list_id": "b2b0000001", "send_time": "2026-04-01T10:00:00Z"},
    ],
    "email_activity": [
        {"campaign_id": "c000000001", "email_address": "r0@listbridge.test", "activity": [
            {"action": "open", "timestamp": "2026-03-02T11:00:00+00:00", "ip": "192.0.2.1"},
            {"action": "open", "timestamp": "2026-03-03T08:00:00+00:00"},
            {"action": "click", "timestamp": "2026-03-03T08:01:00+00:00",
             "url": "https://listbridge.test/sale"}]},
        {"campaign_id": "c000000001", "email_address": "r1@listbridge.test",
         "action": "open", "timestamp": "2026-03-02T12:00:00+00:00"},
        {"campaign_id": "c000000001", "email_address": "r2@listbridge.test",
         "action": "bounce", "type": "hard", "timestamp": "2026-03-02T10:05:00+00:00"},
    ],
    "unsubscribes": [{"campaign_id": "c000000001", "email_address": "r3@listbridge.test",
                      "timestamp": "2026-03-04T09:00:00+00:00"}],
    "abuse_reports": [{"campaign_id": "c000000001", "email_address": "r1@listbridge.test",
                       "date": "2026-03-05T09:00:00+00:00"}],
    "reports": [{"campaign_id": "c000000001", "forwards": {"forwards_count": 3}}],
}


@pytest.fixture
def scenario(control):
    return control("mailchimp/seed", SCENARIO)


def test_campaigns_filter_and_page(mailchimp_api, check, scenario):
    everything = check(mailchimp_api.get("/campaigns"), "get", "/campaigns")
    assert everything["total_items"] == 4
    sent = mailchimp_api.get("/campaigns", params={"status": "sent", "list_id": LIST}).json()
    assert [c["id"] for c in sent["campaigns"]] == ["c000000001", "c000000002"]
    recent = mailchimp_api.get("/campaigns", params={
        "status": "sent", "since_send_time": "2026-03-15T00:00:00+00:00", "count": 1}).json()
    assert recent["total_items"] == 2 and len(recent["campaigns"]) == 1
    spring = check(mailchimp_api.get("/campaigns/c000000001"), "get", "/campaigns/{campaignId}")
    assert spring["settings"]["title"] == "Spring sale" and spring["emails_sent"] == 4
    assert spring["recipients"]["segment_opts"]["saved_segment_id"] == 10001
    assert spring["report_summary"]["unique_opens"] == 2
    assert_problem(mailchimp_api.get("/campaigns/nope"), 404, "Resource Not Found")


def test_report_counts_come_from_seeded_activity(mailchimp_api, check, scenario):
    report = check(mailchimp_api.get("/reports/c000000001"), "get", "/reports/{campaignId}")
    assert report["emails_sent"] == 4
    assert (report["opens"]["opens_total"], report["opens"]["unique_opens"]) == (3, 2)
    assert (report["clicks"]["clicks_total"], report["clicks"]["unique_subscriber_clicks"]) == (
        1, 1)
    assert report["bounces"] == {"hard_bounces": 1, "soft_bounces": 0, "syntax_errors": 0}
    assert (report["unsubscribed"], report["abuse_reports"]) == (1, 1)
    assert report["opens"]["open_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert report["forwards"] == {"forwards_count": 3, "forwards_opens": 0}
    assert report["opens"]["last_open"] == "2026-03-03T08:00:00+00:00"
    assert_problem(mailchimp_api.get("/reports/c000000003"), 404, "Resource Not Found")
    listed = check(mailchimp_api.get("/reports"), "get", "/reports")
    assert listed["total_items"] == 3


def test_email_activity_pages_and_filters_by_since(mailchimp_api, check, scenario):
    url = "/reports/c000000001/email-activity"
    template = "/reports/{campaignId}/email-activity"
    everything = check(mailchimp_api.get(url), "get", template)
    assert everything["total_items"] == 3 and everything["campaign_id"] == "c000000001"
    first = everything["emails"][0]
    assert first["email_id"] == md5("r0@listbridge.test")
    assert [a["action"] for a in first["activity"]] == ["open", "open", "click"]
    assert first["activity"][2]["url"] == "https://listbridge.test/sale"
    page = mailchimp_api.get(url, params={"count": 1, "offset": 2}).json()
    assert [e["email_address"] for e in page["emails"]] == ["r2@listbridge.test"]
    assert page["emails"][0]["activity"][0]["type"] == "hard"
    late = mailchimp_api.get(url, params={"since": "2026-03-03T00:00:00+00:00"}).json()
    assert late["total_items"] == 1
    assert [a["action"] for a in late["emails"][0]["activity"]] == ["open", "click"]


def test_unsubscribes_abuse_and_bounces_reach_the_members(mailchimp_api, check, scenario):
    unsubs = check(mailchimp_api.get("/reports/c000000001/unsubscribed"), "get",
                   "/reports/{campaignId}/unsubscribed")
    assert [u["email_address"] for u in unsubs["unsubscribes"]] == ["r3@listbridge.test"]
    assert unsubs["unsubscribes"][0]["timestamp"] == "2026-03-04T09:00:00+00:00"
    abuse = check(mailchimp_api.get("/reports/c000000001/abuse-reports"), "get",
                  "/reports/{campaignId}/abuse-reports")
    assert [a["email_address"] for a in abuse["abuse_reports"]] == ["r1@listbridge.test"]
    by_list = check(mailchimp_api.get(f"/lists/{LIST}/abuse-reports"), "get",
                    "/lists/{listId}/abuse-reports")
    assert by_list["total_items"] == 1
    statuses = {m["email_address"]: m["status"] for m in mailchimp_api.get(
        f"/lists/{LIST}/members", params={"count": 10}).json()["members"]}
    assert statuses == {"r0@listbridge.test": "subscribed", "r1@listbridge.test": "unsubscribed",
                        "r2@listbridge.test": "cleaned", "r3@listbridge.test": "unsubscribed"}
    changed = mailchimp_api.get(f"/lists/{LIST}/members", params={
        "since_last_changed": "2026-03-04T00:00:00+00:00", "status": "unsubscribed"}).json()
    assert {m["email_address"] for m in changed["members"]} == {"r1@listbridge.test",
                                                               "r3@listbridge.test"}


def test_sent_to_lists_recipients_with_bounce_status(mailchimp_api, check, scenario):
    sent = check(mailchimp_api.get("/reports/c000000001/sent-to"), "get",
                 "/reports/{campaignId}/sent-to")
    rows = {r["email_address"]: r for r in sent["sent_to"]}
    assert set(rows) == {f"r{i}@listbridge.test" for i in range(4)}
    assert rows["r2@listbridge.test"]["status"] == "hard"
    assert rows["r0@listbridge.test"]["open_count"] == 2


# -- connection limit and faults ------------------------------------------------------------
def _burst(base_url: str, n: int) -> list[requests.Response]:
    def call(_):
        return requests.get(f"{base_url}/3.0/ping", auth=("u", DEFAULT_API_KEY), timeout=10)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


@pytest.mark.parametrize(("limit", "burst"), [(None, 12), (2, 5)])
def test_simultaneous_connections_over_the_limit_get_429(mailchimp_server, control, limit,
                                                         burst):
    if limit:
        control("mailchimp/config", {"max_connections": limit})
    # Every ping is held for a second, so the whole burst is in flight at once.
    control("faults", {"delay": 1.0, "delay_rate": 1.0, "paths": ["/3.0/ping"]})
    responses = _burst(mailchimp_server, burst)
    codes = sorted(r.status_code for r in responses)
    expected = limit or 10
    assert codes == [200] * expected + [429] * (burst - expected)
    assert_problem(next(r for r in responses if r.status_code == 429), 429, "Too Many Requests")
    control("faults", {})
    assert requests.get(f"{mailchimp_server}/3.0/ping", auth=("u", DEFAULT_API_KEY),
                        timeout=5).ok


def test_connection_limit_is_per_api_key(mailchimp_server, control):
    control("mailchimp/seed", {"api_keys": [OTHER_KEY]})
    control("mailchimp/config", {"max_connections": 1})
    control("faults", {"delay": 1.0, "delay_rate": 1.0, "paths": ["/3.0/ping"]})

    def call(key):
        return requests.get(f"{mailchimp_server}/3.0/ping", auth=("u", key), timeout=10)

    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.monotonic()
        codes = [r.status_code for r in pool.map(call, [DEFAULT_API_KEY, OTHER_KEY])]
    assert codes == [200, 200] and time.monotonic() - started < 1.9


def test_injected_errors_are_problem_json_and_change_nothing(mailchimp_api, mailchimp_server,
                                                             control, check):
    control("faults", {"error_rate": 1.0, "error_status": 503})
    url = f"/lists/{LIST}/members/{md5('f@listbridge.test')}"
    failed = mailchimp_api.put(url, json={"email_address": "f@listbridge.test",
                                          "status_if_new": "subscribed"})
    assert_problem(failed, 503, "Service Unavailable")
    check(failed, "put", MEMBER, status=503)
    control("faults", {"throttle_rate": 1.0, "retry_after": 7})
    throttled = mailchimp_api.get("/ping")
    assert_problem(throttled, 429, "Too Many Requests")
    assert throttled.headers["Retry-After"] == "7"
    control("faults", {})
    assert_problem(mailchimp_api.get(url), 404, "Resource Not Found")
    # Refused calls are logged too: the log is what the client actually sent.
    requests.get(f"{mailchimp_server}/3.0/lists", timeout=5)
    calls = requests.get(f"{mailchimp_server}/_emulator/calls", timeout=5).json()
    assert [(c["method"], c["path"]) for c in calls] == [
        ("PUT", f"/3.0{url}"), ("GET", "/3.0/ping"), ("GET", f"/3.0{url}"),
        ("GET", "/3.0/lists")]


# -- control endpoints ------------------------------------------------------------------------
def test_reset_restores_the_default_account(mailchimp_api, mailchimp_server, control):
    control("mailchimp/seed", {"api_keys": [OTHER_KEY], "lists": [{"name": "Extra"}]})
    subscribe(mailchimp_api, "a@listbridge.test")
    control("reset", {})
    lists = mailchimp_api.get("/lists").json()
    assert lists["total_items"] == 1 and lists["lists"][0]["stats"]["member_count"] == 0
    other = requests.get(f"{mailchimp_server}/3.0/ping", auth=("u", OTHER_KEY), timeout=5)
    assert_problem(other, 401, "API Key Invalid")


@pytest.mark.parametrize("seed", [
    {"colours": []},
    {"api_keys": ["not-a-key"]},
    {"lists": [{"name": "Kept?"}], "members": [{"list_id": "missing000",
                                                "email_address": "a@listbridge.test"}]},
])
def test_bad_seed_is_refused_whole(mailchimp_api, mailchimp_server, seed):
    response = requests.post(f"{mailchimp_server}/_emulator/mailchimp/seed", json=seed,
                             timeout=5)
    assert response.status_code == 400 and response.json()["error"]
    assert mailchimp_api.get("/lists").json()["total_items"] == 1


# -- paging views and trimmed answers -----------------------------------------------------------
def test_paging_sees_a_write_made_between_pages(mailchimp_api):
    subscribe(mailchimp_api, "a@listbridge.test", "b@listbridge.test", "c@listbridge.test")
    first = mailchimp_api.get(f"/lists/{LIST}/members", params={"count": 2}).json()
    assert first["total_items"] == 3
    subscribe(mailchimp_api, "d@listbridge.test")
    mailchimp_api.patch(f"/lists/{LIST}/members/{md5('c@listbridge.test')}",
                        json={"status": "unsubscribed"})
    rest = mailchimp_api.get(f"/lists/{LIST}/members",
                             params={"count": 2, "offset": 2, "status": "subscribed"}).json()
    assert rest["total_items"] == 3
    assert [m["email_address"] for m in rest["members"]] == ["d@listbridge.test"]


def test_fields_trim_batch_and_segment_answers_to_what_was_asked(mailchimp_api):
    body = mailchimp_api.post(f"/lists/{LIST}", params={
        "fields": "new_members.email_address,new_members.id,total_created"}, json={
        "members": [{"email_address": "a@listbridge.test", "status": "subscribed",
                     "merge_fields": {"FNAME": "Ann"}}]}).json()
    assert body == {"new_members": [{"email_address": "a@listbridge.test",
                                     "id": md5("a@listbridge.test")}], "total_created": 1}
    segment = make_segment(mailchimp_api)
    url = f"/lists/{LIST}/segments/{segment['id']}"
    edit = mailchimp_api.post(url, params={"fields": "total_added,errors"},
                              json={"members_to_add": ["a@listbridge.test"]}).json()
    assert edit == {"total_added": 1, "errors": []}
    listed = mailchimp_api.get(f"/lists/{LIST}/members", params={
        "fields": "members.merge_fields,members.tags_count"}).json()
    assert listed["members"][0]["merge_fields"]["FNAME"] == "Ann"
    assert listed["members"][0]["tags_count"] == 1
    full = mailchimp_api.post(url, json={"members_to_remove": ["a@listbridge.test"]}).json()
    assert full["members_removed"][0]["merge_fields"]["FNAME"] == "Ann"
