"""Email templates: CRUD, sandboxed rendering, preview with a sample member."""

import pytest
from sqlalchemy import select

from extensions import db
from models.email_campaigns import EmailTemplate
from models.users import Role
from services.email_campaigns import rendering
from tests import factories_campaigns as fc

FORM = {"name": "Welcome", "subject": "Hi {{ first_name }}",
        "html_body": "<p>Hello {{ first_name }}</p>", "text_body": "Hello {{ first_name }}"}


def test_create_edit_delete(client, auth):
    auth.login_as(Role.MARKETER)
    response = client.post("/email-campaigns/templates/new", data=FORM)
    assert response.status_code == 303
    template = db.session.scalar(select(EmailTemplate))
    assert template.subject == "Hi {{ first_name }}"
    response = client.post(f"/email-campaigns/templates/{template.id}/edit",
                           data={**FORM, "subject": "Welcome {{ last_name }}"})
    assert response.status_code == 303
    db.session.refresh(template)
    assert template.subject == "Welcome {{ last_name }}"
    assert "Welcome" in client.get("/email-campaigns/templates/").get_data(as_text=True)
    client.post(f"/email-campaigns/templates/{template.id}/delete")
    assert db.session.scalar(select(EmailTemplate)) is None


def test_syntax_error_is_a_form_error_and_nothing_is_saved(client, auth):
    auth.login_as(Role.MARKETER)
    response = client.post("/email-campaigns/templates/new",
                           data={**FORM, "html_body": "<p>{{ first_name </p>"},
                           headers={"HX-Request": "true", "HX-Target": "template-preview"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Template syntax error on line 1" in html and "<html" not in html
    assert 'value="Welcome"' in html  # what was typed is kept
    assert db.session.scalar(select(EmailTemplate)) is None


def test_duplicate_name_and_empty_bodies_are_refused(client, auth):
    auth.login_as(Role.MARKETER)
    fc.email_template(name="Welcome")
    html = client.post("/email-campaigns/templates/new", data=FORM).get_data(as_text=True)
    assert "This value is already used." in html
    html = client.post("/email-campaigns/templates/new",
                       data={**FORM, "name": "Other", "html_body": " ", "text_body": ""}
                       ).get_data(as_text=True)
    assert "Write an HTML body, a text body, or both." in html
    assert db.session.query(EmailTemplate).count() == 1


def test_a_used_template_cannot_be_deleted(client, auth):
    auth.login_as(Role.MARKETER)
    template = fc.email_template()
    fc.email_campaign(template=template, name="Uses it")
    response = client.post(f"/email-campaigns/templates/{template.id}/delete",
                           follow_redirects=True)
    assert "used by the email campaign Uses it" in response.get_data(as_text=True)
    assert db.session.get(EmailTemplate, template.id) is not None


def test_sandbox_blocks_internals_and_escapes_html():
    compiled = rendering.compile_template("{{ first_name }}", "<p>{{ first_name }}</p>",
                                          "{{ first_name }}")
    out = rendering.render(compiled, rendering.context("a@example.com",
                                                       {"first_name": "<script>x</script>"}))
    assert out.html == "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    assert out.text == "<script>x</script>"
    evil = rendering.compile_template("{{ ''.__class__.__mro__ }}", "", "")
    with pytest.raises(rendering.RenderError, match=r"SecurityError|unsafe"):
        rendering.render(evil, {})
    mutate = rendering.compile_template("{{ recipient.update({'a': 1}) }}", "", "")
    with pytest.raises(rendering.RenderError):
        rendering.render(mutate, rendering.context("a@example.com", {}))


def test_subject_cannot_inject_headers():
    compiled = rendering.compile_template("{{ first_name }}", "", "x")
    out = rendering.render(compiled, rendering.context("a@example.com",
                                                       {"first_name": "Hi\r\nBcc: x@evil"}))
    assert out.subject == "Hi Bcc: x@evil"


def test_preview_with_sample_and_with_a_list_member(client, auth):
    auth.login_as(Role.VIEWER)
    template = fc.email_template(subject="Hello {{ first_name }} <{{ email }}>")
    html = client.get(f"/email-campaigns/templates/{template.id}").get_data(as_text=True)
    assert "Hello Jane &lt;jane.sample@example.com&gt;" in html and "a sample member" in html
    mlist = fc.marketing_list(emails=["first@example.com"])
    html = client.get(f"/email-campaigns/templates/{template.id}?list_id={mlist.id}",
                      headers={"HX-Request": "true", "HX-Target": "template-preview"}
                      ).get_data(as_text=True)
    assert "Hello Member0 &lt;first@example.com&gt;" in html and "<html" not in html
    body = client.get(f"/email-campaigns/templates/{template.id}/preview.html?list_id={mlist.id}")
    assert b"Hi Member0" in body.data
    csp = body.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "script-src" not in csp and "default-src 'none'" in csp


def test_preview_reports_a_runtime_error(client, auth):
    auth.login_as(Role.VIEWER)
    template = fc.email_template(subject="{{ 1 // 0 }}")
    html = client.get(f"/email-campaigns/templates/{template.id}").get_data(as_text=True)
    assert "This template fails for that member: ZeroDivisionError" in html
