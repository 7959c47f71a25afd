"""Pages of contacts, leads and marketing lists, through the test client."""

import csv
import io

from sqlalchemy import select

from extensions import db
from models.contacts import Contact
from models.lists import ListType
from models.lists import MarketingList
from models.users import Role
from services import settings
from tests import factories_lists as fl

HX = {"HX-Request": "true"}


def _list_form(**changes):
    data = {"name": "Acme people", "entity": "contact", "type": "dynamic",
            "include_previously_contacted": "y", "fop": "and",
            "ff-0": "company", "fo-0": "eq", "fv-0": "Acme",
            "cf-0": "first_name", "cl-0": "First", "cs-0": "asc",
            "cf-1": "email", "cl-1": "Email", "cs-1": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_contact_crud_and_grid(client, auth):
    auth.login_as(Role.MARKETER)
    response = client.post("/contacts/new", data={"email": "bad", "first_name": "<b>X</b>"})
    assert response.status_code == 422
    assert "is not a valid email address" in response.get_data(as_text=True)
    response = client.post("/contacts/new", data={"email": "x@example.com",
                                                  "first_name": "<b>X</b>", "company": "Acme"})
    assert response.status_code == 303
    row = db.session.scalar(select(Contact))
    page = client.get(f"/contacts/{row.id}").get_data(as_text=True)
    assert "&lt;b&gt;X&lt;/b&gt;" in page and "<b>X</b>" not in page
    grid = client.get("/contacts/?f_company=acm", headers=HX).get_data(as_text=True)
    assert "x@example.com" in grid and "<html" not in grid
    assert "x@example.com" not in client.get("/contacts/?f_company=zzz").get_data(as_text=True)
    response = client.post(f"/contacts/{row.id}/edit", data={"email": "y@example.com"})
    assert response.status_code == 303 and row.email == "y@example.com"
    assert client.post(f"/contacts/{row.id}/delete").status_code == 303
    assert db.session.scalar(select(Contact)) is None
    assert client.get(f"/contacts/{row.id}").status_code == 404


def test_csv_export_follows_the_grid_filter_and_defuses_formulas(client, auth):
    auth.login_as(Role.VIEWER)
    fl.contact(company="Acme", first_name="=cmd()")
    fl.contact(company="Globex")
    body = client.get("/contacts/export.csv?f_company=acme").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 1 and rows[0]["company"] == "Acme"
    assert rows[0]["first_name"] == "'=cmd()"


def test_leads_pages(client, auth):
    auth.login_as(Role.MARKETER)
    response = client.post("/leads/new", data={"name": "Big deal", "status": "won"})
    assert response.status_code == 422
    response = client.post("/leads/new", data={"name": "Big deal", "status": "qualified",
                                               "source": "event", "email": "a@b.co"})
    assert response.status_code == 303
    assert "Big deal" in client.get("/leads/?f_status=qualified").get_data(as_text=True)
    assert "Big deal" not in client.get("/leads/?f_status=new").get_data(as_text=True)


def test_create_list_and_view_members(client, auth):
    auth.login_as(Role.MARKETER)
    acme = fl.contact(company="Acme", first_name="<script>x</script>")
    fl.contact(company="Globex")
    response = client.post("/marketing-lists/new", data=_list_form())
    assert response.status_code == 303, response.get_data(as_text=True)
    mlist = db.session.scalar(select(MarketingList))
    assert mlist.filter == {"op": "and", "items": [
        {"field": "company", "op": "eq", "value": "Acme"}]}
    assert fl.members(mlist) == [acme.id]
    page = client.get(f"/marketing-lists/{mlist.id}").get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "Total contacted" in page and "Removed Items" in page
    grid = client.get("/marketing-lists/?f_type=dynamic", headers=HX).get_data(as_text=True)
    assert "Acme people" in grid


def test_list_form_errors(client, auth):
    auth.login_as(Role.MARKETER)
    fl.marketing_list(name="Taken")
    cases = [
        (_list_form(name="taken"), "A marketing list with this name already exists."),
        (_list_form(type="manual"), "Choose Dynamic or On demand."),
        (_list_form(**{"cf-1": None, "cl-1": None}),
         "At least one column must contain contact information"),
        (_list_form(**{"ff-0": "salary"}), "Unknown field “salary”."),
        (_list_form(**{"fo-0": "before"}), "“before” cannot be used with Company."),
        (_list_form(**{"ff-0": "created_at", "fo-0": "after", "fv-0": "<b>soon</b>"}),
         "“&lt;b&gt;soon&lt;/b&gt;” is not a date"),
        (_list_form(entity="account"), "Choose an entity."),
    ]
    for data, message in cases:
        response = client.post("/marketing-lists/new", data=data)
        assert response.status_code == 422, message
        assert message in response.get_data(as_text=True), message
    assert db.session.scalar(select(db.func.count()).select_from(MarketingList)) == 1


def test_filter_builder_round_trips(client, auth):
    auth.login_as(Role.MARKETER)
    data = _list_form(action="add-group:")
    html = client.post("/marketing-lists/builder", data=data, headers=HX).get_data(as_text=True)
    assert 'name="ff-1.0"' in html and 'name="fop-1"' in html and "<html" not in html
    data = _list_form(action="remove:0", **{"fop-1": "or", "ff-1.0": "country", "fo-1.0": "in",
                                            "fv-1.0": "France, Spain"})
    html = client.post("/marketing-lists/builder", data=data, headers=HX).get_data(as_text=True)
    assert 'name="ff-0.0"' in html and 'value="France, Spain"' in html
    assert 'name="ff-1' not in html
    html = client.post("/marketing-lists/builder", data=_list_form(action="col-up:1"),
                       headers=HX).get_data(as_text=True)
    assert html.index('name="cl-0" value="Email"') < html.index('name="cl-1" value="First"')
    html = client.post("/marketing-lists/builder", data={"entity": "lead", "action": "entity"},
                       headers=HX).get_data(as_text=True)
    assert 'value="status"' in html and 'name="ff-0"' not in html


def test_inline_actions_refresh_both_grids(client, auth):
    auth.login_as(Role.MARKETER)
    a, b = fl.contact(company="Acme"), fl.contact(company="Acme")
    mlist = fl.marketing_list([{"field": "company", "op": "eq", "value": "Acme"}])
    base = f"/marketing-lists/{mlist.id}/items"
    html = client.post(f"{base}/{a.id}/unsubscribe", headers=HX,
                       data={"items_state": "sort=id&dir=desc&size=10"}).get_data(as_text=True)
    assert f'data-testid="subscribe-{a.id}"' in html and 'id="removed-grid"' in html
    assert html.index(f"remove-{b.id}") < html.index(f"remove-{a.id}")  # kept desc order
    html = client.post(f"{base}/{b.id}/remove", headers=HX).get_data(as_text=True)
    assert f'data-testid="unremove-{b.id}"' in html
    html = client.post(f"{base}/{b.id}/unremove", headers=HX).get_data(as_text=True)
    assert f'data-testid="unremove-{b.id}"' not in html
    assert client.post(f"{base}/{b.id}/explode").status_code == 404


def test_refresh_only_for_on_demand_lists(client, auth):
    auth.login_as(Role.MARKETER)
    on_demand = fl.marketing_list([], type=ListType.ON_DEMAND, build=False)
    fl.contact()
    client.post(f"/marketing-lists/{on_demand.id}/refresh")
    assert len(fl.members(on_demand)) == 1
    page = client.get(f"/marketing-lists/{on_demand.id}").get_data(as_text=True)
    assert "Marketing list successfully refreshed" in page
    dynamic = fl.marketing_list([], build=False)
    client.post(f"/marketing-lists/{dynamic.id}/refresh")
    assert fl.members(dynamic) == []


def test_feature_switch_and_viewer(client, auth):
    auth.login_as(Role.VIEWER)
    mlist = fl.marketing_list([])
    page = client.get(f"/marketing-lists/{mlist.id}").get_data(as_text=True)
    assert "Unsubscribe" not in page and "Refresh List" not in page
    assert client.post(f"/marketing-lists/{mlist.id}/delete").status_code == 403
    settings.save({"marketing_list.feature_enabled": False})
    assert client.get("/marketing-lists/").status_code == 404
