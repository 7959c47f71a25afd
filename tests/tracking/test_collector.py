"""The public collector: Matomo tracking API over GET, POST and bulk; CORS; refusals."""

import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from models.tracking import TrackingEvent
from models.tracking import TrackingVisit
from services import settings
from services.tracking import ingest
from services.tracking import sites
from tests import factories_tracking as tf

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " \
     "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"


@pytest.fixture(autouse=True)
def _fresh_site_cache():
    sites.clear()
    yield
    sites.clear()


def _events():
    return db.session.scalars(select(TrackingEvent).order_by(TrackingEvent.id)).all()


def _count():
    return db.session.scalar(select(func.count()).select_from(TrackingEvent))


def test_page_view_over_get_answers_a_gif_and_is_stored(client):
    site = tf.website("shop-1")
    response = client.get("/tracking.php?" + urlencode({
        "idsite": "shop-1", "rec": "1", "url": "https://shop.example.com/a%20b?x=1",
        "action_name": "Home", "_id": "AbCdEf0123456789", "uid": "ann@example.com",
        "_rcn": "spring", "res": "390x844"}), headers={"User-Agent": UA})
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert response.data.startswith(b"GIF89a")
    [event] = _events()
    assert (event.website_id, event.name, event.value, event.user_identifier, event.title,
            event.code) == (site.id, "visit", 1.0, "ann@example.com", "Home", "spring")
    assert event.url == "https://shop.example.com/a%20b?x=1"
    visit = db.session.get(TrackingVisit, event.visit_id)
    assert (visit.visitor_id, visit.client, visit.os, visit.mobile, visit.desktop) == (
        "abcdef0123456789", "Mobile Safari", "iOS", True, False)
    assert visit.code == "spring"


def test_custom_event_over_post_form_answers_204(client):
    tf.website("shop-1")
    body = urlencode({"idsite": "shop-1", "rec": "1", "url": "https://shop.example.com/cart",
                      "e_c": "OroCRM", "e_a": "Tracking", "e_n": "cart item added",
                      "e_v": "27", "send_image": "0"})
    response = client.post("/matomo.php", data=body,
                           content_type="application/x-www-form-urlencoded; charset=UTF-8")
    assert response.status_code == 204
    [event] = _events()
    assert (event.name, event.value, event.user_identifier) == ("cart item added", 27.0, "guest")


def test_bulk_requests_are_stored_together(client):
    tf.website("shop-1")
    requests = [f"?idsite=shop-1&rec=1&url=https%3A%2F%2Fs%2F{n}&_id=00000000000000{n:02d}"
                for n in range(3)]
    response = client.post("/matomo.php", data=json.dumps({"requests": requests}),
                           content_type="application/json")
    assert response.status_code == 200
    assert response.get_json() == {"status": "success", "tracked": 3, "invalid": 0}
    assert [e.url for e in _events()] == ["https://s/0", "https://s/1", "https://s/2"]


def test_one_bad_hit_in_a_bulk_request_stores_nothing(client):
    tf.website("shop-1")
    requests = ["?idsite=shop-1&rec=1&url=https%3A%2F%2Fs%2F", "?idsite=nope&rec=1&url=x"]
    response = client.post("/matomo.php", json={"requests": requests})
    assert response.status_code == 400 and "unknown idsite" in response.get_data(as_text=True)
    assert _count() == 0


@pytest.mark.parametrize(("query", "message"), [
    ({"rec": "1", "url": "https://s/"}, "idsite is required"),
    ({"idsite": "unknown", "rec": "1", "url": "https://s/"}, "unknown idsite"),
    ({"idsite": "shop-1", "url": "https://s/"}, "rec=1 is required"),
    ({"idsite": "shop-1", "rec": "1"}, "url is required"),
    ({"idsite": "shop-1", "rec": "1", "url": "https://s/", "e_c": "a", "e_v": "x"},
     "e_v must be a number"),
    ({"idsite": "shop-1", "rec": "1", "url": "https://s/", "e_c": "a", "e_v": "nan"},
     "finite"),
    ({"idsite": "shop-1", "rec": "1", "url": "https://s/", "cdt": "yesterday"}, "cdt"),
    ({"idsite": "shop-1", "rec": "1", "url": "https://s/", "cdt": "1000"}, "24 hours"),
    ({"idsite": "shop-1", "rec": "1", "url": "https://s/" + "x" * 5000}, "url is longer"),
    ({"idsite": "shop-1", "rec": "1", "url": "https://s/", "e_n": "n" * 300, "e_c": "c"},
     "e_n is longer"),
])
def test_malformed_hits_are_refused_with_a_message_and_nothing_stored(client, query, message):
    tf.website("shop-1")
    response = client.get("/tracking.php?" + urlencode(query))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _count() == 0


def test_oversized_and_malformed_bodies(client):
    tf.website("shop-1")
    big = "idsite=shop-1&rec=1&url=" + "x" * 70_000
    assert client.post("/tracking.php", data=big,
                       content_type="application/x-www-form-urlencoded").status_code == 413
    assert client.post("/tracking.php", data="{not json",
                       content_type="application/json").status_code == 400
    assert client.post("/tracking.php", data=b"\xff\xfe",
                       content_type="text/plain").status_code == 400
    surrogate = '{"requests": ["?idsite=shop-1&rec=1&url=\\ud800"]}'
    assert client.post("/tracking.php", data=surrogate,
                       content_type="application/json").status_code == 400
    too_many = {"requests": ["?idsite=shop-1&rec=1&url=u"] * 101}
    assert client.post("/tracking.php", json=too_many).status_code == 400
    assert _count() == 0


def test_cors_preflight_and_headers(client):
    tf.website("shop-1")
    preflight = client.open("/matomo.php", method="OPTIONS",
                            headers={"Origin": "https://shop.example.com",
                                     "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    response = client.post("/tracking.php", data="idsite=shop-1&rec=1&url=u",
                           headers={"Origin": "https://shop.example.com"},
                           content_type="text/plain")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    refused = client.get("/tracking.php?idsite=nope&rec=1&url=u")
    assert refused.headers["Access-Control-Allow-Origin"] == "*"


def test_no_login_no_csrf_and_no_session_cookie(client):
    tf.website("shop-1")
    response = client.post("/tracking.php", data="idsite=shop-1&rec=1&url=u",
                           content_type="application/x-www-form-urlencoded", csrf=False)
    assert response.status_code == 204
    assert "Set-Cookie" not in response.headers


def test_noscript_pixel_uses_the_referer_as_url(client):
    tf.website("shop-1")
    response = client.get("/tracking.php?idsite=shop-1&rec=1&send_image=1",
                          headers={"Referer": "https://shop.example.com/no-js"})
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert _events()[0].url == "https://shop.example.com/no-js"


def test_cookieless_hits_get_a_stable_visitor_id(client):
    tf.website("shop-1")
    for _ in range(2):
        client.get("/tracking.php?idsite=shop-1&rec=1&url=u&send_image=0",
                   headers={"User-Agent": UA})
    visits = db.session.scalars(select(TrackingVisit)).all()
    assert len(visits) == 1 and len(visits[0].visitor_id) == 16


def test_tracking_switched_off_answers_404(client):
    tf.website("shop-1")
    settings.save({"tracking.feature_enabled": False})
    assert client.get("/tracking.php?idsite=shop-1&rec=1&url=u").status_code == 404
    assert _count() == 0


def test_backdated_hit_within_a_day_keeps_its_time(client):
    import time

    tf.website("shop-1")
    at = int(time.time()) - 3600
    client.get(f"/tracking.php?idsite=shop-1&rec=1&url=u&cdt={at}")
    assert int(_events()[0].logged_at.timestamp()) == at


@pytest.mark.redis
def test_queued_mode_stores_nothing_until_drained(redis_app):
    client = redis_app.test_client()
    tf.website("shop-1")
    for n in range(5):
        assert client.get(f"/tracking.php?idsite=shop-1&rec=1&url=u{n}&send_image=0"
                          ).status_code == 204
    assert _count() == 0 and ingest.pending_count() == 5
    redis = ingest.get_redis()
    assert ingest.drain() == (5, 5)
    assert _count() == 5 and ingest.pending_count() == 0
    assert redis.xpending(ingest.STREAM, ingest.GROUP)["pending"] == 0


@pytest.mark.redis
def test_dynamic_tracking_writes_at_once_even_with_redis(redis_app):
    client = redis_app.test_client()
    tf.website("shop-1")
    settings.save({"tracking.dynamic_tracking_enabled": True})
    client.get("/tracking.php?idsite=shop-1&rec=1&url=u&send_image=0")
    assert _count() == 1 and ingest.pending_count() == 0


@pytest.fixture
def redis_down_app(app):
    """The app configured for Redis, with Redis unreachable (nothing listens on port 9)."""
    from jobs import queue

    app.config["REDIS_URL"] = "redis://127.0.0.1:9/0"
    queue.init_app(app)
    yield app
    app.config["REDIS_URL"] = None
    queue.init_app(app)


def test_redis_down_answers_503_with_a_message_and_stores_nothing(redis_down_app, caplog):
    tf.website("shop-1")
    response = redis_down_app.test_client().get(
        "/tracking.php?idsite=shop-1&rec=1&url=u&send_image=0",
        headers={"Origin": "https://shop.example.com"})
    assert response.status_code == 503
    assert response.get_data(as_text=True) == "tracking is temporarily unavailable\n"
    # Still readable cross-site, so the sender's tracker sees the refusal.
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "tracking: hit not recorded" in caplog.text
    assert _count() == 0


def test_other_methods_are_refused_with_allow(client):
    tf.website("shop-1")
    response = client.put("/tracking.php?idsite=shop-1&rec=1&url=u")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST, OPTIONS"
    assert _count() == 0


# -- fuzzing: whatever arrives, the answer is never a 500 and a refusal stores nothing ----

_keys = st.sampled_from(["idsite", "rec", "url", "urlref", "action_name", "_id", "uid",
                         "e_c", "e_a", "e_n", "e_v", "_rcn", "_rck", "cdt", "ua", "lang",
                         "res", "send_image", "x"])
_values = st.one_of(st.text(max_size=40), st.sampled_from(["1", "0", "shop-1", "nan", "inf",
                                                           "-1e309", "9" * 30, "", "\x00"]),
                    st.text(min_size=250, max_size=300))
_VALID = {"idsite": "shop-1", "rec": "1", "url": "https://shop.example.com/"}
# Half the examples start from a valid hit and spoil (or keep) some of it.
_params = st.one_of(st.dictionaries(_keys, _values, max_size=10),
                    st.dictionaries(_keys, _values, max_size=4).map(
                        lambda extra: {**_VALID, **extra}))


@hsettings(max_examples=150, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(params=_params, method=st.sampled_from(["GET", "POST", "BULK", "RAW"]),
       raw=st.binary(max_size=300))
def test_fuzz_never_500_and_refusals_store_nothing(client, params, method, raw):
    if not sites.site_id("shop-1"):
        tf.website("shop-1")
        sites.clear()
    before = _count()
    if method == "GET":
        response = client.get("/tracking.php?" + urlencode(params))
    elif method == "POST":
        response = client.post("/matomo.php", data=urlencode(params),
                               content_type="application/x-www-form-urlencoded")
    elif method == "BULK":
        response = client.post("/matomo.php", json={"requests": ["?" + urlencode(params)] * 2})
    else:
        response = client.post("/matomo.php", data=raw, content_type="application/json")
    assert response.status_code in (200, 204, 400, 413), response.get_data(as_text=True)
    stored = _count() - before
    if response.status_code in (400, 413):
        assert stored == 0
    else:
        assert stored == (2 if method == "BULK" else 1)
