"""Marketing > Tracking Websites: form, grid, view page, Verify panel, settings."""

import pytest
from sqlalchemy import select

from extensions import db
from models.tracking import TrackingEvent
from models.tracking import TrackingWebsite
from models.users import Role
from services import settings
from services.dashboard import counts
from services.tracking import config
from services.tracking.processing import store_hits
from tests import factories_tracking as tf

FORM = {"name": "Shop", "identifier": "shop-1", "url": "https://shop.example.com",
        "description": "Main shop"}


def _form(user, **changes):
    return {**FORM, "owner_id": str(user.id), **changes}


def test_create_view_edit_and_delete(client, auth):
    user = auth.login_as(Role.MARKETER)
    assert "Create Tracking Website" in client.get("/tracking/websites/new").get_data(
        as_text=True)
    response = client.post("/tracking/websites/new", data=_form(user))
    assert response.status_code == 303
    website = db.session.scalar(select(TrackingWebsite))
    assert (website.name, website.identifier, website.owner_id) == ("Shop", "shop-1", user.id)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    for text in ("General", "Tracking Code", "Events", "Verify installation",
                 "Make sure this code is on every page", "setSiteId", "Copy to clipboard"):
        assert text in html
    response = client.post(f"/tracking/websites/{website.id}/edit",
                           data=_form(user, name="Shop 2"))
    assert response.status_code == 303 and website.name == "Shop 2"
    store_hits([tf.hit(website.id)])
    db.session.commit()
    assert client.post(f"/tracking/websites/{website.id}/delete").status_code == 303
    assert db.session.query(TrackingWebsite).count() == 0
    assert db.session.query(TrackingEvent).count() == 0


def test_form_errors_come_back_in_the_fragment_and_nothing_is_saved(client, auth):
    user = auth.login_as(Role.MARKETER)
    tf.website("taken")
    cases = [({"name": ""}, "This value should not be blank."),
             ({"identifier": "taken"}, "This value is already used."),
             ({"identifier": "TAKEN"}, "This value is already used."),
             ({"url": "not a url"}, "This value is not a valid URL."),
             ({"name": "n" * 256}, "too long"),
             ({"identifier": "a\x01b"}, "invalid characters")]
    for changes, message in cases:
        response = client.post("/tracking/websites/new", data=_form(user, **changes),
                               headers={"HX-Request": "true"})
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and message in html, changes
        assert "<html" not in html
    assert db.session.query(TrackingWebsite).count() == 1


def test_grid_filters_and_default_sort(client, auth):
    auth.login_as(Role.VIEWER)
    tf.website("b-site", name="Beta")
    tf.website("a-site", name="Alpha")
    html = client.get("/tracking/websites/").get_data(as_text=True)
    assert html.index("a-site") < html.index("b-site")
    html = client.get("/tracking/websites/?f_name=bet", headers={"HX-Request": "true"}
                      ).get_data(as_text=True)
    assert "b-site" in html and "a-site" not in html


def test_events_grid_decodes_urls_filters_and_shows_newest_first(client, auth):
    auth.login_as(Role.VIEWER)
    site = tf.website()
    import time

    now = time.time()
    store_hits([tf.hit(site.id, at=now - 60, url="https://s/caf%C3%A9", name="visit"),
                tf.hit(site.id, at=now, url="https://s/cart", name="cart item added",
                       value=27.0, code="spring")])
    db.session.commit()
    html = client.get(f"/tracking/websites/{site.id}").get_data(as_text=True)
    assert "https://s/café" in html
    assert html.index("cart item added") < html.index("https://s/café")
    html = client.get(f"/tracking/websites/{site.id}/events?f_code=spring",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "cart item added" in html and "café" not in html and "<html" not in html
    # The fragment URL pushed into the address bar also serves the whole page.
    full = client.get(f"/tracking/websites/{site.id}/events?f_code=spring")
    assert full.status_code == 200 and "Tracking Code" in full.get_data(as_text=True)


def test_verify_panel_polls_and_shows_the_last_hit(client, auth):
    auth.login_as(Role.VIEWER)
    site = tf.website("shop-1")
    html = client.get(f"/tracking/websites/{site.id}/verify",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in html and "No hits received yet" in html
    client.get("/tracking.php?idsite=shop-1&rec=1&url=https%3A%2F%2Fshop%2Fhello")
    html = client.get(f"/tracking/websites/{site.id}/verify",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Receiving hits" in html and "https://shop/hello" in html


def test_snippet_options_and_tracker_url(client, auth, app):
    auth.login_as(Role.VIEWER)
    site = tf.website("shop-1")
    html = client.get(f"/tracking/websites/{site.id}/snippet?campaign=spring&noscript=y",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "setCampaignName&#39;, &#34;spring&#34;" in html and "noscript" in html
    assert "var u=&#34;http://localhost/&#34;" in html
    assert "not served over HTTPS" in html
    settings.save({"general.public_url": "https://crm.example.com"})
    html = client.get(f"/tracking/websites/{site.id}/snippet",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "var u=&#34;https://crm.example.com/&#34;" in html
    assert "not served over HTTPS" not in html


def test_viewer_cannot_change_and_marketer_can_process(client, auth):
    auth.login_as(Role.VIEWER)
    site = tf.website()
    assert client.post(f"/tracking/websites/{site.id}/delete").status_code == 403
    assert client.post("/tracking/process").status_code == 403


def test_process_now_runs_the_drain_job(client, auth):
    auth.login_as(Role.MARKETER)
    response = client.post("/tracking/process")
    assert response.status_code == 303
    from models.jobs import JobRun

    assert db.session.scalar(select(JobRun.kind)) == "tracking_drain"


def test_tracking_settings_page_and_secret_token(client, auth):
    auth.login_as(Role.ADMIN)
    html = client.get("/configuration/tracking").get_data(as_text=True)
    for label in ("Enable Dynamic Tracking", "Enable Tracking Statistics Aggregation",
                  "Log Rotation Interval", "Piwik Host", "Piwik Token Auth"):
        assert label in html
    data = {config.AGGREGATION: "on", config.ROTATION: "15",
            config.PIWIK_HOST: "https://matomo.example.com", config.PIWIK_TOKEN: "s3cret-token"}
    assert client.post("/configuration/tracking", data=data).status_code == 303
    assert settings.get(config.PIWIK_TOKEN) != "s3cret-token"  # stored encrypted
    assert config.piwik_token() == "s3cret-token"
    assert "s3cret-token" not in client.get("/configuration/tracking").get_data(as_text=True)
    data[config.PIWIK_TOKEN] = ""  # blank keeps the stored token
    client.post("/configuration/tracking", data=data)
    assert config.piwik_token() == "s3cret-token" and config.rotation_minutes() == 15
    bad = client.post("/configuration/tracking", data={**data, config.ROTATION: "7"})
    assert bad.status_code == 422


def test_dashboard_counts_tracking_websites(app):
    tf.website()
    assert ("Tracking websites", 1) in counts()


def test_demo_seeder_is_idempotent(app):
    from services.tracking.demo import seed_tracking

    assert "events" in seed_tracking()
    assert seed_tracking() is None
    assert db.session.query(TrackingWebsite).count() == 1


@pytest.mark.redis
def test_verify_panel_sees_queued_hits_before_they_are_drained(redis_app, auth, client):
    auth.login_as(Role.VIEWER)
    site = tf.website("shop-1")
    client.get("/tracking.php?idsite=shop-1&rec=1&url=https%3A%2F%2Fshop%2Fqueued&send_image=0")
    assert db.session.query(TrackingEvent).count() == 0
    html = client.get(f"/tracking/websites/{site.id}/verify",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Receiving hits" in html and "https://shop/queued" in html
    assert "1 hit queued for processing" in html
