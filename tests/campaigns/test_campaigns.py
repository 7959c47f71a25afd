"""Marketing campaigns: form rules, grid, merge with code history, view blocks."""

from decimal import Decimal

from sqlalchemy import select

from extensions import db
from models.campaigns import Campaign
from models.campaigns import CampaignCodeHistory
from models.marketing_activity import ActivityType
from models.users import Role
from services import marketing_activity
from services.campaigns import service
from tests import factories_campaigns as fc


def _form(**overrides):
    data = {"name": "Spring sale", "code": "spring-2025", "start_date": "2025-03-01",
            "end_date": "2025-04-01", "description": "Seasonal", "budget": "1500.50",
            "currency": "EUR", "report_scale": "day"}
    data.update(overrides)
    return data


def test_create_campaign_records_code_history(client, auth):
    user = auth.login_as(Role.MARKETER)
    response = client.post("/campaigns/new", data=_form(owner_id=user.id))
    assert response.status_code == 303, response.get_data(as_text=True)
    campaign = db.session.scalar(select(Campaign))
    assert (campaign.name, campaign.code, campaign.currency) == ("Spring sale", "spring-2025",
                                                                 "EUR")
    assert campaign.budget == Decimal("1500.50") and campaign.owner_id == user.id
    assert [h.code for h in campaign.code_history] == ["spring-2025"]
    assert response.headers["Location"] == f"/campaigns/{campaign.id}"


def test_a_forged_report_scale_is_refused_not_a_server_error(client, auth):
    user = auth.login_as(Role.MARKETER)
    response = client.post("/campaigns/new", data=_form(owner_id=user.id,
                                                       report_scale="fortnightly"))
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(select(Campaign)) is None


def test_code_rules_use_the_reference_messages(client, auth):
    user = auth.login_as(Role.MARKETER)
    response = client.post("/campaigns/new", data=_form(owner_id=user.id, code="bad code!"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert ("This value should contain only alphabetic symbols, underscore, hyphen and numbers."
            in html)
    response = client.post("/campaigns/new", data=_form(owner_id=user.id, code="x" * 21))
    assert "20 characters or less" in response.get_data(as_text=True)
    response = client.post("/campaigns/new", data=_form(owner_id=user.id, name="n" * 101))
    assert "100 characters or less" in response.get_data(as_text=True)
    assert db.session.scalar(select(Campaign)) is None


def test_start_must_be_before_end_and_budget_not_negative(client, auth):
    user = auth.login_as(Role.MARKETER)
    response = client.post("/campaigns/new", data=_form(owner_id=user.id, start_date="2025-05-01",
                                                        end_date="2025-04-01", budget="-1"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "This date should be earlier than End date" in html
    assert "This value should be 0 or more." in html
    assert db.session.scalar(select(Campaign)) is None


def test_code_is_unique_including_earlier_codes(client, auth):
    user = auth.login_as(Role.MARKETER)
    first = fc.campaign(code="alpha")
    service.save(first, service.CampaignData(name=first.name, code="beta"))
    assert service.codes_of(first) == ["beta", "alpha"]
    for code in ("alpha", "beta"):
        response = client.post("/campaigns/new", data=_form(owner_id=user.id, code=code))
        assert response.status_code == 422
        assert "This value is already used." in response.get_data(as_text=True)
    # The campaign itself may go back to its earlier code.
    service.save(first, service.CampaignData(name=first.name, code="alpha"))
    assert service.codes_of(first) == ["alpha", "beta"]


def test_edit_keeps_old_code_in_history_and_view_shows_it(client, auth):
    user = auth.login_as(Role.MARKETER)
    campaign = fc.campaign(code="old-code")
    response = client.post(f"/campaigns/{campaign.id}/edit",
                           data=_form(owner_id=user.id, code="new-code"))
    assert response.status_code == 303
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "new-code" in html and "(old-code)" in html
    assert service.campaign_for_code("old-code").id == campaign.id


def test_grid_default_sort_is_start_date_descending_with_undated_last(client, auth):
    auth.login_as(Role.VIEWER)
    fc.campaign(name="Undated")
    fc.campaign(name="Early", start_date=fc.day("2024-01-01"))
    fc.campaign(name="Late", start_date=fc.day("2025-01-01"))
    html = client.get("/campaigns/").get_data(as_text=True)
    assert html.index("Late") < html.index("Early") < html.index("Undated")
    html = client.get("/campaigns/?f_name=ear").get_data(as_text=True)
    assert "Early" in html and "Late" not in html


def test_grid_pages_over_nullable_sort_reach_every_row_once(client, auth):
    auth.login_as(Role.VIEWER)
    from werkzeug.datastructures import MultiDict

    from blueprints.campaigns import GRID

    for n in range(7):
        fc.campaign(name=f"c{n}", budget=Decimal(n) if n % 2 else None)
    for direction in ("asc", "desc"):
        seen, after = [], None
        while True:
            args = {"sort": "budget", "dir": direction, "size": "10"}
            state = GRID.state_from(MultiDict(args))
            state.size = 2
            state.after = after
            page = GRID.page(select(Campaign), state)
            seen += [c.name for c in page.rows]
            after = page.next_cursor
            if not after:
                break
        assert sorted(seen) == [f"c{n}" for n in range(7)]
        budgets = [n for n in (int(s[1:]) for s in seen) if n % 2]
        assert budgets == sorted(budgets, reverse=direction == "desc")
        assert all(int(s[1:]) % 2 == 0 for s in seen[-4:])  # undated budgets last


def test_budget_filter_and_date_filter(client, auth):
    auth.login_as(Role.VIEWER)
    fc.campaign(name="Cheap", budget=Decimal("10"), start_date=fc.day("2025-02-01"))
    fc.campaign(name="Costly", budget=Decimal("5000"), start_date=fc.day("2025-06-01"))
    html = client.get("/campaigns/?f_budget_from=100").get_data(as_text=True)
    assert "Costly" in html and "Cheap" not in html
    html = client.get("/campaigns/?f_start_date_to=2025-03-01").get_data(as_text=True)
    assert "Cheap" in html and "Costly" not in html


def test_merge_keeps_one_and_moves_codes(client, auth):
    auth.login_as(Role.MARKETER)
    keep = fc.campaign(name="Keep", code="keep")
    gone = fc.campaign(name="Gone", code="gone")
    other = fc.campaign(name="Other", code="other")
    marketing_activity.record(ActivityType.SEND, campaign_id=gone.id, entity_type="contact",
                              entity_id=1)
    db.session.commit()
    response = client.post("/campaigns/mass", data={"action": "merge",
                                                     "ids": [keep.id, gone.id]})
    assert response.status_code == 200 and "Merge Campaigns" in response.get_data(as_text=True)
    response = client.post("/campaigns/merge", data={"ids": [keep.id, gone.id],
                                                     "master_id": keep.id})
    assert response.status_code == 303
    db.session.expire_all()
    assert {c.name for c in db.session.scalars(select(Campaign))} == {"Keep", "Other"}
    assert service.codes_of(keep) == ["keep", "gone"]
    assert service.campaign_for_code("gone").id == keep.id
    assert service.campaign_for_code("other").id == other.id
    assert dict(marketing_activity.summary(keep.id))[ActivityType.SEND] == 1


def test_merge_refuses_a_master_outside_the_selection(client, auth):
    auth.login_as(Role.MARKETER)
    a, b, c = fc.campaign(), fc.campaign(), fc.campaign()
    response = client.post("/campaigns/merge", data={"ids": [a.id, b.id], "master_id": c.id},
                           follow_redirects=True)
    assert "Choose the campaign to keep." in response.get_data(as_text=True)
    assert db.session.scalar(select(Campaign).where(Campaign.id == a.id)) is not None
    response = client.post("/campaigns/mass", data={"action": "merge", "ids": [a.id]},
                           follow_redirects=True)
    assert "Select at least two campaigns to merge." in response.get_data(as_text=True)


def test_mass_delete_and_row_delete(client, auth):
    auth.login_as(Role.MARKETER)
    a, b, c = fc.campaign(), fc.campaign(), fc.campaign()
    client.post("/campaigns/mass", data={"action": "delete", "ids": [a.id, b.id]})
    client.post(f"/campaigns/{c.id}/delete")
    assert db.session.scalar(select(Campaign)) is None
    assert db.session.scalar(select(CampaignCodeHistory)) is None


def test_view_page_blocks(client, auth):
    auth.login_as(Role.VIEWER)
    campaign = fc.campaign(code="summer_24", description="<b>bold</b>")
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "General Information" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "?pk_campaign=summer_24" in html
    assert "_paq.push(['setCampaignName', 'summer_24']);" in html
    assert html.count('data-copy="#tracking-') == 2
    assert "Marketing Activity Summary" not in html  # nothing recorded yet
    assert "Edit" not in html.split("General Information")[0].split("<h1>")[1]


def test_activity_summary_counts_per_type(client, auth):
    auth.login_as(Role.VIEWER)
    campaign = fc.campaign()
    for entity_id in (1, 2):
        marketing_activity.record("send", campaign_id=campaign.id, entity_type="contact",
                                  entity_id=entity_id)
    marketing_activity.record("open", campaign_id=campaign.id, entity_type="contact",
                              entity_id=1)
    db.session.commit()
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    section = html.split('id="marketing-activity-summary"')[1]
    assert "<th scope=\"row\">Send</th><td>2</td>" in section
    assert "<th scope=\"row\">Open</th><td>1</td>" in section
    assert "<th scope=\"row\">Hard Bounce</th><td>0</td>" in section


def test_activity_is_stored_once(app):
    from datetime import UTC
    from datetime import datetime

    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    args = dict(email_campaign_id=None, entity_type="contact", entity_id=7, action_date=at,
                details="https://example.com")
    assert marketing_activity.record("click", **args) is True
    assert marketing_activity.record("click", **args) is False
    assert marketing_activity.record_many([{"type": "click", **args},
                                           {"type": "open", **args}]) == 1
    db.session.commit()
    from models.marketing_activity import MarketingActivity

    assert db.session.query(MarketingActivity).count() == 2


def test_switched_off_campaign_feature_404s(client, auth):
    from services import settings

    auth.login_as(Role.ADMIN)
    settings.save({"campaign.feature_enabled": False})
    assert client.get("/campaigns/").status_code == 404
