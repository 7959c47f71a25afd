"""CSV import: upload checks, mapping, per-row errors, dedupe, resuming after a crash."""

import csv
import io

import pytest
from rq import SimpleWorker
from sqlalchemy import func
from sqlalchemy import select

import jobs
from extensions import db
from jobs import queue
from models.contacts import Contact
from models.jobs import JobRun
from models.jobs import JobStatus
from models.users import Role
from services import records_import
from tests import factories_lists as fl

GOOD = ("First,Last,E-mail,Company\n"
        "Ada,Lovelace,ADA@example.com,Acme\n"
        "Bad,Email,not-an-email,Acme\n"
        "No,Email,,Acme\n"
        "Alan,Turing,alan@example.com,Globex\n"
        "Ada,Again,ada@example.com,\n")
MAPPING = {"0": "first_name", "1": "last_name", "2": "email", "3": "company"}


def _upload(client, body: bytes, name="people.csv"):
    return client.post("/contacts/import", data={"file": (io.BytesIO(body), name)},
                       content_type="multipart/form-data")


def _start(client, import_id, dedupe="update", mapping=MAPPING):
    data = {f"map_{i}": key for i, key in mapping.items()}
    data["dedupe"] = dedupe
    return client.post(f"/contacts/import/{import_id}", data=data)


def fl_contact_type():
    from services import records

    return records.get("contact")


def _contacts():
    return {c.email: c for c in db.session.scalars(select(Contact))}


@pytest.mark.parametrize(("body", "message"), [
    (b"", "The file is empty."),
    ("Prénom\n".encode("latin-1") + b"x\n", "not UTF-8"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "not UTF-8"),
    (b"\n\nada@example.com\n", "no header row"),
    (b"x" * 300_000, "no header row"),
    ((",".join(f"c{i}" for i in range(101)) + "\n").encode(), "more than 100 columns"),
    (b"email,email\na@b.co,c@d.co\n", "names a column twice"),
])
def test_bad_files_are_refused_with_a_clear_message(client, auth, body, message):
    auth.login_as(Role.MARKETER)
    response = _upload(client, body)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert list(records_import.import_dir().glob("*.csv")) == []


def test_oversized_upload_is_refused(app, client, auth):
    auth.login_as(Role.MARKETER)
    app.config["IMPORT_MAX_BYTES"] = 1024
    response = _upload(client, b"email\n" + b"a@example.com\n" * 200)
    assert response.status_code == 422
    assert "larger than" in response.get_data(as_text=True)


def test_import_with_errors_file_and_update_on_duplicates(client, auth):
    auth.login_as(Role.MARKETER)
    existing = fl.contact(email="alan@example.com", first_name="Old", city="Paris")
    mlist = fl.marketing_list([{"field": "company", "op": "eq", "value": "Acme"}])
    response = _upload(client, GOOD.encode("utf-8-sig"))
    assert response.status_code == 303
    import_id = response.headers["Location"].rstrip("/").split("/")[-1]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="email" selected' in page and 'value="company" selected' in page
    response = _start(client, import_id)
    assert response.status_code == 303
    run = db.session.scalar(select(JobRun).where(JobRun.kind == "records_import"))
    assert run.status is JobStatus.SUCCEEDED, run.error
    assert run.counts == {"imported": 1, "updated": 2, "skipped": 0, "errors": 2}
    people = _contacts()
    assert people["ada@example.com"].last_name == "Again"
    assert people["ada@example.com"].company == "Acme"  # a blank cell keeps the value
    assert people["alan@example.com"].id == existing.id
    assert people["alan@example.com"].first_name == "Alan"
    assert people["alan@example.com"].city == "Paris"
    assert fl.members(mlist) == [people["ada@example.com"].id]
    status = client.get(f"/contacts/import/{import_id}/status").get_data(as_text=True)
    assert "errors.csv" in status
    errors = list(csv.reader(io.StringIO(
        client.get(f"/contacts/import/{import_id}/errors.csv").get_data(as_text=True))))
    assert errors[0] == ["row", "First", "Last", "E-mail", "Company", "error"]
    assert [(r[0], r[-1]) for r in errors[1:]] == [
        ("3", "“not-an-email” is not a valid email address."), ("4", "Email is required.")]


def test_skip_keeps_existing_records(client, auth):
    auth.login_as(Role.MARKETER)
    fl.contact(email="alan@example.com", first_name="Old")
    import_id = records_import.save_upload(io.BytesIO(GOOD.encode()), "contact")["id"]
    _start(client, import_id, dedupe="skip")
    run = db.session.scalar(select(JobRun).where(JobRun.kind == "records_import"))
    assert run.counts == {"imported": 1, "updated": 0, "skipped": 2, "errors": 2}
    assert _contacts()["alan@example.com"].first_name == "Old"
    assert _contacts()["ada@example.com"].last_name == "Lovelace"


def test_mapping_errors_are_shown_and_nothing_starts(client, auth):
    auth.login_as(Role.MARKETER)
    import_id = records_import.save_upload(io.BytesIO(GOOD.encode()), "contact")["id"]
    response = _start(client, import_id, mapping={"0": "first_name", "1": "first_name"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "First name is mapped to two columns." in text
    assert "Map a column to Email: it is required." in text
    with pytest.raises(records_import.ImportFileError, match="column the file does not"):
        records_import.validate_mapping(fl_contact_type(), ["a", "email"], {"1": "email",
                                                                             "9": "city"})
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0
    assert client.get("/contacts/import/nothex/status").status_code == 404
    assert client.get("/leads/import/" + import_id).status_code == 404


def test_a_retry_after_a_crash_resumes_and_converges(app, monkeypatch):
    body = "email,first name\n" + "".join(f"p{n}@example.com,P{n}\n" for n in range(5000))
    import_id = records_import.save_upload(io.BytesIO(body.encode()), "contact")["id"]
    monkeypatch.setattr(records_import, "BATCH_ROWS", 1000)
    calls = {"n": 0}
    real_write = records_import._write

    def crash_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(records_import, "_write", crash_on_third_batch)
    params = {"import_id": import_id, "entity": "contact", "dedupe": "skip",
              "mapping": {"0": "email", "1": "first_name"}}
    run = jobs.enqueue("records_import", f"import:{import_id}", params)
    db.session.refresh(run)
    assert run.status is JobStatus.FAILED and run.progress == 2001
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2000
    jobs.runner.execute(run.id)  # the retry RQ would make
    assert calls["n"] == 6  # batches 3, 4 and 5 again, not 1 and 2
    db.session.refresh(run)
    assert run.status is JobStatus.SUCCEEDED
    assert run.counts == {"imported": 5000, "updated": 0, "skipped": 0, "errors": 0}
    assert db.session.scalar(select(func.count(func.distinct(Contact.email)))) == 5000
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 5000


@pytest.mark.redis
def test_import_and_refresh_run_on_a_real_rq_worker(redis_app):
    from models.lists import ListType

    import_id = records_import.save_upload(io.BytesIO(GOOD.encode()), "contact")["id"]
    run = jobs.enqueue("records_import", f"import:{import_id}", {
        "import_id": import_id, "entity": "contact", "dedupe": "update", "mapping": MAPPING})
    mlist = fl.marketing_list([{"field": "company", "op": "eq", "value": "Globex"}],
                              type=ListType.ON_DEMAND, build=False)
    refresh = jobs.enqueue("marketing_list_refresh", f"marketing_list:{mlist.id}",
                           {"list_id": mlist.id})
    assert run.status is JobStatus.QUEUED and refresh.status is JobStatus.QUEUED
    SimpleWorker(["default"], connection=queue.get_redis()).work(burst=True)
    db.session.expire_all()
    assert db.session.get(JobRun, run.id).status is JobStatus.SUCCEEDED
    refreshed = db.session.get(JobRun, refresh.id)
    assert refreshed.status is JobStatus.SUCCEEDED and refreshed.counts["added"] == 1
    assert fl.members(mlist) == [_contacts()["alan@example.com"].id]
