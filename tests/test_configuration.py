"""System > Configuration and the feature switches."""

import pytest
from flask import Blueprint

from models.users import Role
from services import settings
from web.features import require_feature


@pytest.fixture
def feature_app(_schema, database_url, tmp_path):
    """An app with a stand-in tracking blueprint behind the tracking switch."""
    from app import create_app
    from extensions import db
    from tests.conftest import CSRFClient
    from tests.conftest import _empty_tables
    from tests.conftest import _test_config

    app = create_app(_test_config(database_url, tmp_path))
    bp = Blueprint("tracking", __name__, url_prefix="/tracking/websites")

    @bp.get("/")
    def websites_index():
        return "websites"

    require_feature(bp, "tracking")
    if "tracking" not in app.blueprints:  # the real tracking blueprint serves the same URL
        app.register_blueprint(bp)
    app.test_client_class = CSRFClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()


def test_features_default_on(app):
    assert all(settings.feature_enabled(name) for name in settings.FEATURES)


def test_switching_a_feature_off_hides_the_menu_entry_and_404s_its_routes(feature_app):
    from tests.conftest import Auth

    client = feature_app.test_client()
    Auth(client).login_as(Role.ADMIN)
    assert client.get("/tracking/websites/").status_code == 200
    assert "Tracking Websites" in client.get("/").get_data(as_text=True)

    form = {key: "on" for key in settings.FEATURES.values() if key != "tracking.feature_enabled"}
    assert client.post("/configuration/marketing_features", data=form).status_code == 303
    assert settings.get("tracking.feature_enabled") is False
    assert client.get("/tracking/websites/").status_code == 404
    assert "Tracking Websites" not in client.get("/").get_data(as_text=True)


def test_marketing_activities_need_campaigns(client, auth):
    auth.login_as(Role.ADMIN)
    response = client.post("/configuration/marketing_features", data={
        "marketing_list.feature_enabled": "on", "tracking.feature_enabled": "on",
        "marketing_activity.feature_enabled": "on"})
    assert response.status_code == 422
    assert "depends on" in response.get_data(as_text=True)
    assert settings.get("campaign.feature_enabled") is True  # nothing saved


def test_activities_are_off_when_campaigns_are_off(app):
    settings.save({"campaign.feature_enabled": False, "marketing_activity.feature_enabled": True})
    assert settings.feature_enabled("marketing_activity") is False


def test_configuration_page_lists_the_switches(client, auth):
    auth.login_as(Role.ADMIN)
    html = client.get("/configuration/").get_data(as_text=True)
    for label in ("Enable Marketing List", "Enable Campaign Features", "Enable Tracking",
                  "Enable Marketing Activities Features"):
        assert label in html


def test_unknown_section_is_404(client, auth):
    auth.login_as(Role.ADMIN)
    assert client.get("/configuration/nope").status_code == 404
