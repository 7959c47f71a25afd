"""Materialisation, re-evaluation, and the sending set."""

from datetime import UTC
from datetime import datetime

from sqlalchemy import select

from extensions import db
from models.lists import ListType
from models.lists import MarketingListItem
from services import records
from services import records_crud
from services.marketing_lists import membership
from services.marketing_lists import sending
from tests import factories_lists as fl

ACME = [{"field": "company", "op": "eq", "value": "Acme"}]
CONTACT = records.get("contact")


def _item(mlist, entity_id):
    return db.session.scalar(select(MarketingListItem).where(
        MarketingListItem.marketing_list_id == mlist.id,
        MarketingListItem.entity_id == entity_id))


def test_materialise_adds_matches_and_drops_leavers(app):
    a, b = fl.contact(company="Acme"), fl.contact(company="acme")
    other = fl.contact(company="Globex")
    mlist = fl.marketing_list(ACME, include_previously_contacted=False)
    assert fl.members(mlist) == [a.id, b.id]
    b.company, other.company = "Initech", "ACME"
    db.session.commit()
    assert membership.materialise(mlist.id) == {"added": 1, "removed": 1}
    assert fl.members(mlist) == [a.id, other.id]
    assert membership.materialise(mlist.id) == {"added": 0, "removed": 0}
    assert mlist.built_at is not None and mlist.build_ms >= 0


def test_previously_contacted_members_stay_when_the_list_keeps_them(app):
    a, b = fl.contact(company="Acme"), fl.contact(company="Acme")
    keeping = fl.marketing_list(ACME, include_previously_contacted=True)
    strict = fl.marketing_list(ACME, include_previously_contacted=False)
    for mlist in (keeping, strict):
        sending.record_contacted(mlist.id, [a.id], datetime(2024, 5, 1, tzinfo=UTC))
    a.company = b.company = "Other"
    db.session.commit()
    membership.materialise(keeping.id)
    membership.materialise(strict.id)
    assert fl.members(keeping) == [a.id]
    assert fl.members(strict) == []


def test_unsubscribe_survives_refresh_and_rematch_until_subscribed(app):
    a = fl.contact(company="Acme")
    mlist = fl.marketing_list(ACME, include_previously_contacted=False)
    sending.unsubscribe(mlist.id, a.id)
    assert _item(mlist, a.id).subscribed is False
    a.company = "Other"
    db.session.commit()
    membership.materialise(mlist.id)
    assert fl.members(mlist) == []
    a.company = "Acme"
    db.session.commit()
    membership.materialise(mlist.id)
    assert _item(mlist, a.id).subscribed is False
    membership.reevaluate_records("contact", [a.id])
    assert _item(mlist, a.id).subscribed is False
    sending.subscribe(mlist.id, a.id)
    membership.materialise(mlist.id)
    assert _item(mlist, a.id).subscribed is True


def test_sending_set_is_members_minus_removed_unsubscribed_and_no_email(app):
    kept = fl.contact(company="Acme", first_name="Kept")
    removed = fl.contact(company="Acme")
    unsubscribed = fl.contact(company="Acme")
    fl.contact(company="Acme", email=None)
    fl.contact(company="Acme", email="")
    mlist = fl.marketing_list(ACME)
    sending.remove(mlist.id, removed.id)
    sending.remove(mlist.id, removed.id)  # twice is harmless
    sending.unsubscribe(mlist.id, unsubscribed.id)
    rows = db.session.execute(sending.sending_set_query(mlist.id)).all()
    assert [(r.entity_id, r.email) for r in rows] == [(kept.id, kept.email)]
    batches = list(sending.iter_sending_set(mlist.id, batch_size=1))
    assert [[r.entity_id for r in b] for b in batches] == [[kept.id]]
    recipient = batches[0][0]
    assert recipient.entity_type == "contact" and recipient.fields["first_name"] == "Kept"
    sending.undo_remove(mlist.id, removed.id)
    assert [r.entity_id for b in sending.iter_sending_set(mlist.id, 1) for r in b] == [
        kept.id, removed.id]


def test_iter_sending_set_pages_by_entity_id(app):
    ids = [fl.contact(company="Acme").id for _ in range(7)]
    mlist = fl.marketing_list(ACME)
    batches = list(sending.iter_sending_set(mlist.id, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [r.entity_id for b in batches for r in b] == ids


def test_record_contacted_counts_per_list(app):
    a = fl.contact(company="Acme")
    one, two = fl.marketing_list(ACME), fl.marketing_list(ACME)
    at = datetime(2024, 6, 1, 12, tzinfo=UTC)
    sending.record_contacted(one.id, [a.id], at)
    sending.record_contacted(one.id, [a.id], at)
    assert (_item(one, a.id).contacted_times, _item(one, a.id).last_contacted_at) == (2, at)
    assert _item(two, a.id).contacted_times == 0
    db.session.refresh(one)
    assert one.last_used_at == at


def test_reevaluating_one_record_updates_every_dynamic_list_of_its_type(app):
    a = fl.contact(company="Globex", country="France")
    acme = fl.marketing_list(ACME)
    french = fl.marketing_list([{"field": "country", "op": "eq", "value": "France"}])
    on_demand = fl.marketing_list(ACME, type=ListType.ON_DEMAND)
    lead_list = fl.marketing_list([], entity="lead")
    a.company = "Acme"
    a.country = "Spain"
    db.session.commit()
    assert membership.reevaluate_records("contact", [a.id]) == {"added": 1, "removed": 1}
    assert fl.members(acme) == [a.id]
    assert fl.members(french) == []
    assert fl.members(on_demand) == []  # refreshed by hand only
    assert fl.members(lead_list) == []


def test_record_changes_through_the_service_reach_dynamic_lists(app):
    mlist = fl.marketing_list(ACME)
    row = records_crud.create(CONTACT, {"email": "New@Example.com", "company": "Acme"})
    assert row.email == "new@example.com"
    assert fl.members(mlist) == [row.id]
    records_crud.update(CONTACT, row, {"email": row.email, "company": "Other"})
    assert fl.members(mlist) == []
    records_crud.update(CONTACT, row, {"email": row.email, "company": "Acme"})
    sending.unsubscribe(mlist.id, row.id)
    sending.remove(mlist.id, row.id)
    records_crud.delete(CONTACT, row)
    for table in (membership.ITEMS, membership.REMOVED, membership.UNSUBSCRIBED):
        assert db.session.execute(select(table)).all() == []


def test_deleted_records_leave_on_reevaluation(app):
    a = fl.contact(company="Acme")
    mlist = fl.marketing_list(ACME)
    db.session.delete(a)
    db.session.commit()
    counts = membership.reevaluate_records("contact", [a.id])
    assert counts["removed"] + counts["purged"] == 1 and fl.members(mlist) == []


def test_manual_lists_are_never_materialised(app):
    fl.contact(company="Acme")
    mlist = fl.marketing_list(ACME, type=ListType.MANUAL)
    assert fl.members(mlist) == []


def test_validation_of_record_values():
    import pytest

    with pytest.raises(records_crud.RecordError) as info:
        records_crud.clean(CONTACT, {"email": "not an email", "phone": "call me",
                                     "first_name": "x" * 101})
    assert set(info.value.errors) == {"email", "phone", "first_name"}
    with pytest.raises(records_crud.RecordError) as info:
        records_crud.clean(CONTACT, {"email": "  "})
    assert info.value.errors == {"email": "Email is required."}
