"""Integration form, list panel, data fields and mappings through the web UI."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy import text

from extensions import db
from integrations.dotdigital.sync import sync_integration
from models.integrations import DataField
from models.integrations import FieldMapping
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import SyncStatus
from models.users import Role
from services import crypto
from tests import factories_dotdigital as dd_factories

HX = {"HX-Request": "true"}


def _form(base, **changes):
    data = {"name": "Main account", "username": "demo@apiconnector.com",
            "password": "demo-password-1", "api_base_url": base, "enabled": "y",
            "default_owner": ""}
    data.update(changes)
    return data


def test_admin_creates_a_dotdigital_integration_and_the_password_is_never_shown(
        client, auth, dotdigital_server):
    auth.login_as(Role.ADMIN)
    page = client.get("/integrations/")
    assert page.status_code == 200 and "Create dotdigital integration" in page.text
    short = client.post("/integrations/new/dotdigital", data=_form(dotdigital_server,
                                                                   password="short"), headers=HX)
    assert short.status_code == 422 and "at least 8" in short.text
    created = client.post("/integrations/new/dotdigital", data=_form(dotdigital_server))
    assert created.status_code == 303
    integration = db.session.scalar(select(Integration))
    assert integration.api_secret == "demo-password-1"
    raw = db.session.execute(text("SELECT api_secret FROM integrations")).scalar()
    assert raw != "demo-password-1" and crypto.decrypt(raw) == "demo-password-1"
    view = client.get(f"/integrations/{integration.id}")
    assert "demo-password-1" not in view.text
    # The creation scheduled the first sync: address books and data fields are here.
    assert db.session.scalar(select(DataField).where(DataField.name == "FIRSTNAME"))
    assert db.session.scalar(select(FieldMapping).where(FieldMapping.entity == "contact"))
    # A blank password keeps the stored one.
    saved = client.post(f"/integrations/{integration.id}",
                        data=_form(dotdigital_server, password="", name="Renamed"))
    assert saved.status_code == 303
    db.session.expire_all()
    integration = db.session.get(Integration, integration.id)
    assert integration.name == "Renamed" and integration.api_secret == "demo-password-1"


def test_check_connection_reports_success_or_the_api_error(client, auth, dotdigital_server):
    auth.login_as(Role.ADMIN)
    ok = client.post("/integrations/check/dotdigital", data=_form(dotdigital_server), headers=HX)
    assert "Connection successful!" in ok.text
    bad = client.post("/integrations/check/dotdigital",
                      data=_form(dotdigital_server, password="wrong-password"), headers=HX)
    assert 'data-ok="false"' in bad.text and "Authorization has been denied" in bad.text
    down = client.post("/integrations/check/dotdigital",
                       data=_form("http://127.0.0.1:9"), headers=HX)
    assert 'data-ok="false"' in down.text


def test_integrations_are_for_admins_only(client, auth):
    auth.login_as(Role.MARKETER)
    assert client.get("/integrations/").status_code == 403
    assert client.post("/integrations/new/dotdigital", data={}).status_code == 403


def test_connect_a_list_through_the_panel_and_see_it_up_to_date(client, auth,
                                                                 dotdigital_server):
    auth.login_as(Role.ADMIN)
    dd_factories.seed(dotdigital_server, address_books=[{"name": "Newsletter"}])
    dd = dd_factories.integration(dotdigital_server)
    sync_integration(dd)
    mlist, rows = dd_factories.contact_list(2)
    page = client.get(f"/marketing-lists/{mlist.id}")
    assert "Connect to dotdigital" in page.text
    dialog = client.get(f"/dotdigital/lists/{mlist.id}/connect", headers=HX)
    assert "Newsletter" in dialog.text and "All Contacts" not in dialog.text
    refused = client.post(f"/dotdigital/lists/{mlist.id}/connect",
                          data={"integration": str(dd.id), "address_book": ""}, headers=HX)
    assert refused.status_code == 422 and "Choose an address book." in refused.text
    preview = client.get(f"/dotdigital/lists/{mlist.id}/preview?integration={dd.id}",
                         headers=HX)
    assert "add <strong>2</strong>" in preview.text
    book = next(b for b in dd_factories.remote_state(dotdigital_server)["address_books"]
                if b["name"] == "Newsletter")
    done = client.post(f"/dotdigital/lists/{mlist.id}/connect",
                       data={"integration": str(dd.id), "address_book": str(book["id"])},
                       headers=HX)
    assert done.status_code == 200
    assert 'linked to "Newsletter"' in done.text and "Up to date" in done.text
    assert dd_factories.book_members(dotdigital_server, "Newsletter") == sorted(
        r.email for r in rows)
    # One book ↔ one list.
    other, _ = dd_factories.contact_list(1)
    taken = client.post(f"/dotdigital/lists/{other.id}/connect",
                        data={"integration": str(dd.id), "address_book": str(book["id"])},
                        headers=HX)
    assert taken.status_code == 422
    synced = client.post(f"/dotdigital/lists/{mlist.id}/synchronize", headers=HX)
    assert "scheduled to synchronize" in synced.text
    refreshed = client.post(f"/dotdigital/lists/{mlist.id}/refresh-fields", headers=HX)
    assert "Data Fields will be updated" in refreshed.text
    gone = client.post(f"/dotdigital/lists/{mlist.id}/disconnect", headers=HX)
    assert "Connect to dotdigital" in gone.text
    assert db.session.scalar(select(ListConnection)) is None


def test_create_an_address_book_from_the_dialog(client, auth, dotdigital_server):
    auth.login_as(Role.ADMIN)
    dd = dd_factories.integration(dotdigital_server)
    sync_integration(dd)
    mlist, _ = dd_factories.contact_list(1)
    made = client.post(f"/dotdigital/lists/{mlist.id}/address-books",
                       data={"integration": str(dd.id), "name": "Spring leads",
                             "visibility": "Public"}, headers=HX)
    assert made.status_code == 200 and "Spring leads" in made.text
    reserved = client.post(f"/dotdigital/lists/{mlist.id}/address-books",
                           data={"integration": str(dd.id), "name": "Test",
                                 "visibility": "Private"}, headers=HX)
    assert reserved.status_code == 422 and "reserved" in reserved.text


def test_data_fields_create_validate_and_refuse_system_deletes(client, auth,
                                                               dotdigital_server):
    auth.login_as(Role.ADMIN)
    dd = dd_factories.integration(dotdigital_server)
    sync_integration(dd)
    bad_default = client.post("/dotdigital/data-fields/new", data={
        "integration": str(dd.id), "name": "SHOESIZE", "type": "Numeric",
        "visibility": "Private", "default_value": "big"}, headers=HX)
    assert bad_default.status_code == 422
    assert "Default value doesn&#39;t match the field&#39;s type" in bad_default.text
    bad_name = client.post("/dotdigital/data-fields/new", data={
        "integration": str(dd.id), "name": "has space", "type": "String",
        "visibility": "Private"}, headers=HX)
    assert bad_name.status_code == 422
    ok = client.post("/dotdigital/data-fields/new", data={
        "integration": str(dd.id), "name": "SHOESIZE", "type": "Numeric",
        "visibility": "Public", "default_value": "42", "notes": "EU sizes"})
    assert ok.status_code == 303
    remote = {f["name"]: f for f in dd_factories.remote_state(dotdigital_server)["data_fields"]}
    assert remote["SHOESIZE"]["type"] == "Numeric"
    # Dotdigital refuses a duplicate; nothing is stored twice.
    dd_factories.seed(dotdigital_server, data_fields=[{"name": "PETNAME", "type": "String"}])
    dup = client.post("/dotdigital/data-fields/new", data={
        "integration": str(dd.id), "name": "PETNAME", "type": "String",
        "visibility": "Private"}, headers=HX)
    assert dup.status_code == 422 and "Failed to create field in dotdigital." in dup.text
    grid = client.get("/dotdigital/data-fields")
    assert "SHOESIZE" in grid.text and "FIRSTNAME" in grid.text
    system = db.session.scalar(select(DataField).where(DataField.name == "FIRSTNAME"))
    client.post(f"/dotdigital/data-fields/{system.id}/delete")
    assert db.session.get(DataField, system.id) is not None
    mine = db.session.scalar(select(DataField).where(DataField.name == "SHOESIZE"))
    client.post(f"/dotdigital/data-fields/{mine.id}/delete")
    assert db.session.get(DataField, mine.id) is None


def test_mapping_rules(client, auth, dotdigital_server):
    auth.login_as(Role.ADMIN)
    dd_factories.seed(dotdigital_server, data_fields=[{"name": "SHOESIZE", "type": "Numeric"}])
    dd = dd_factories.integration(dotdigital_server)
    sync_integration(dd)
    fields = {f.name: f.id for f in db.session.scalars(select(DataField))}
    contact = db.session.scalar(select(FieldMapping).where(FieldMapping.entity == "contact"))
    assert contact.sync_priority == 20
    assert {r.data_field.name: r.entity_fields for r in contact.rows} == {
        "FIRSTNAME": "first_name", "LASTNAME": "last_name", "FULLNAME": "first_name,last_name"}
    lead = db.session.scalar(select(FieldMapping).where(FieldMapping.entity == "lead"))
    assert lead.sync_priority == 10
    duplicate = client.post("/dotdigital/mappings/new", data={
        "integration": str(dd.id), "entity": "contact", "sync_priority": "5"}, headers=HX)
    assert duplicate.status_code == 422 and "Mapping for this entity already exists" in \
        duplicate.text
    twice = client.post(f"/dotdigital/mappings/{contact.id}", data={
        "integration": str(dd.id), "entity": "contact", "sync_priority": "20",
        "row-1-fields": "first_name", "row-1-field": str(fields["FIRSTNAME"]),
        "row-2-fields": "city", "row-2-field": str(fields["FIRSTNAME"])}, headers=HX)
    assert twice.status_code == 422 and "mapped only once" in twice.text
    not_string = client.post(f"/dotdigital/mappings/{contact.id}", data={
        "integration": str(dd.id), "entity": "contact", "sync_priority": "20",
        "row-1-fields": ["first_name", "city"], "row-1-field": str(fields["SHOESIZE"])},
        headers=HX)
    assert not_string.status_code == 422 and "only to a String" in not_string.text
    wrong_type = client.post(f"/dotdigital/mappings/{contact.id}", data={
        "integration": str(dd.id), "entity": "contact", "sync_priority": "20",
        "row-1-fields": "city", "row-1-field": str(fields["SHOESIZE"])}, headers=HX)
    assert wrong_type.status_code == 422 and "compatible" in wrong_type.text
    saved = client.post(f"/dotdigital/mappings/{contact.id}", data={
        "integration": str(dd.id), "entity": "contact", "sync_priority": "30",
        "row-1-fields": "first_name", "row-1-field": str(fields["FIRSTNAME"]),
        "row-1-two_way": "on", "row-2-fields": ["city", "country"],
        "row-2-field": str(fields["POSTCODE"])})
    assert saved.status_code == 303
    db.session.expire_all()
    contact = db.session.get(FieldMapping, contact.id)
    assert contact.sync_priority == 30 and len(contact.rows) == 2
    assert contact.rows[0].two_way is True


def test_the_status_sentence_for_a_connection(client, auth, dotdigital_server):
    auth.login_as(Role.VIEWER)
    _dd, mlist, _rows, connection = dd_factories.connected(dotdigital_server, size=1)
    page = client.get(f"/marketing-lists/{mlist.id}")
    assert "Synchronization status: <strong>Not Synced</strong>" in page.text
    assert "dd-synchronize" not in page.text  # a viewer sees no sync action
    connection.sync_status = SyncStatus.REJECTED
    db.session.commit()
    assert "Sync Rejected" in client.get(f"/marketing-lists/{mlist.id}").text
