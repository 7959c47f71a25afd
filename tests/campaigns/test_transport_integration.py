"""Transports that go through an integration ask for one: form field, re-render, view page."""

import re

from sqlalchemy import func
from sqlalchemy import select

from extensions import db
from models.email_campaigns import EmailCampaign
from models.users import Role
from tests import factories_campaigns as fc
from tests import factories_dotdigital as fd
from tests import factories_mailchimp as fm

# Rows only: nothing here talks to the remote side.
NOWHERE = "http://127.0.0.1:9"
HX = {"HX-Request": "true", "HX-Target": "transport-fields"}


def _form(mlist, user, **overrides):
    data = {"name": "Spring promo", "marketing_list_id": mlist.id, "schedule": "manual",
            "owner_id": user.id, "sender_email": "", "sender_name": "", "campaign_id": "",
            "description": "", "transport": "dotdigital", "template_id": ""}
    data.update(overrides)
    return data


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(EmailCampaign))


def _options(html: str) -> dict[str, str]:
    select_html = html.split('id="integration_id"', 1)[1].split("</select>", 1)[0]
    return {value: label for value, label in
            re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_html)}


def test_dotdigital_transport_without_integration_is_refused(client, auth):
    user = auth.login_as(Role.MARKETER)
    response = client.post("/email-campaigns/new", data=_form(fc.marketing_list(), user))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose the dotdigital integration." in html
    assert 'id="integration_id-error"' in html
    assert _count() == 0


def test_an_integration_of_another_type_or_disabled_is_refused(client, auth):
    user = auth.login_as(Role.MARKETER)
    mlist = fc.marketing_list()
    mailchimp = fm.integration(NOWHERE, name="Chimp main")
    response = client.post("/email-campaigns/new", data=_form(
        mlist, user, integration_id=mailchimp.id))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose the dotdigital integration: Chimp main is not an enabled dotdigital" in html
    disabled = fd.integration(NOWHERE, name="Old account", enabled=False)
    response = client.post("/email-campaigns/new", data=_form(
        mlist, user, integration_id=disabled.id))
    assert response.status_code == 422
    assert "Old account is not an enabled dotdigital" in response.get_data(as_text=True)
    response = client.post("/email-campaigns/new", data=_form(mlist, user,
                                                              integration_id="not-a-number"))
    assert response.status_code == 422
    assert _count() == 0


def test_the_right_integration_is_saved_and_shown(client, auth):
    user = auth.login_as(Role.MARKETER)
    dotdigital = fd.integration(NOWHERE, name="DD production")
    response = client.post("/email-campaigns/new", data=_form(
        fc.marketing_list(), user, integration_id=dotdigital.id))
    assert response.status_code == 303, response.get_data(as_text=True)
    row = db.session.scalar(select(EmailCampaign))
    assert row.transport == "dotdigital"
    assert row.transport_settings == {"integration_id": dotdigital.id}
    html = client.get(f"/email-campaigns/{row.id}").get_data(as_text=True)
    link = html.split('data-testid="campaign-integration"', 1)[0].rsplit("<a ", 1)[1]
    assert f'href="/integrations/{dotdigital.id}"' in link
    assert ">DD production</a>" in html
    assert "Sending happens in dotdigital" in html
    # The edit form comes back with it chosen.
    html = client.get(f"/email-campaigns/{row.id}/edit").get_data(as_text=True)
    assert re.search(rf'<option selected value="{dotdigital.id}">DD production</option>', html)


def test_mailchimp_transport_needs_a_mailchimp_integration(client, auth):
    user = auth.login_as(Role.MARKETER)
    mlist = fc.marketing_list()
    dotdigital = fd.integration(NOWHERE)
    response = client.post("/email-campaigns/new", data=_form(
        mlist, user, transport="mailchimp", integration_id=dotdigital.id))
    assert response.status_code == 422
    assert "Choose the Mailchimp integration:" in response.get_data(as_text=True)
    mailchimp = fm.integration(NOWHERE, name="Chimp main")
    response = client.post("/email-campaigns/new", data=_form(
        mlist, user, transport="mailchimp", integration_id=mailchimp.id))
    assert response.status_code == 303
    row = db.session.scalar(select(EmailCampaign))
    assert row.transport_settings["integration_id"] == mailchimp.id
    html = client.get(f"/email-campaigns/{row.id}").get_data(as_text=True)
    assert ">Chimp main</a>" in html and "Sending happens in Mailchimp" in html


def test_the_email_transport_ignores_the_field(client, auth):
    user = auth.login_as(Role.MARKETER)
    mlist, template = fc.marketing_list(), fc.email_template()
    mailchimp = fm.integration(NOWHERE)
    response = client.post("/email-campaigns/new", data=_form(
        mlist, user, transport="email", template_id=template.id, integration_id=mailchimp.id))
    assert response.status_code == 303, response.get_data(as_text=True)
    row = db.session.scalar(select(EmailCampaign))
    assert "integration_id" not in (row.transport_settings or {})
    html = client.get(f"/email-campaigns/{row.id}").get_data(as_text=True)
    assert 'data-testid="campaign-integration"' not in html
    html = client.get(f"/email-campaigns/{row.id}/edit").get_data(as_text=True)
    assert 'id="integration_id"' not in html


def test_switching_to_email_drops_the_integration(client, auth):
    user = auth.login_as(Role.MARKETER)
    dotdigital = fd.integration(NOWHERE)
    campaign = fc.email_campaign(transport="dotdigital",
                                 transport_settings={"integration_id": dotdigital.id})
    response = client.post(f"/email-campaigns/{campaign.id}/edit", data=_form(
        campaign.marketing_list, user, transport="email", template_id=campaign.template_id,
        integration_id=dotdigital.id))
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(EmailCampaign, campaign.id).transport_settings == {}


def test_transport_change_re_renders_the_integration_field(client, auth):
    auth.login_as(Role.VIEWER)
    first = fd.integration(NOWHERE, name="DD one")
    fd.integration(NOWHERE, name="DD two")
    fd.integration(NOWHERE, name="DD off", enabled=False)
    fm.integration(NOWHERE, name="Chimp main")
    page = client.get("/email-campaigns/new").get_data(as_text=True)
    assert 'hx-get="/email-campaigns/transport-fields"' in page
    assert 'id="transport-fields"' in page and 'id="integration_id"' not in page

    response = client.get("/email-campaigns/transport-fields?transport=dotdigital"
                          f"&integration_id={first.id}", headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="transport-fields">')
    assert "<form" not in html and 'name="name"' not in html
    assert sorted(_options(html).values()) == ["Choose an integration…", "DD one", "DD two"]
    assert f'<option selected value="{first.id}">' in html

    html = client.get("/email-campaigns/transport-fields?transport=mailchimp",
                      headers=HX).get_data(as_text=True)
    assert list(_options(html).values()) == ["Choose an integration…", "Chimp main"]

    for transport in ("email", "nonsense"):
        html = client.get(f"/email-campaigns/transport-fields?transport={transport}",
                          headers=HX).get_data(as_text=True)
        assert 'id="transport-fields"' in html and "<select" not in html


def test_a_viewer_cannot_post(client, auth):
    user = auth.login_as(Role.VIEWER)
    dotdigital = fd.integration(NOWHERE)
    response = client.post("/email-campaigns/new", data=_form(
        fc.marketing_list(), user, integration_id=dotdigital.id))
    assert response.status_code == 403
    assert _count() == 0
