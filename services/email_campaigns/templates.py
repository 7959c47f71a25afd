"""Email templates: save with syntax checks, delete, and preview with a sample member."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from extensions import db
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailTemplate
from models.lists import MarketingList
from services.email_campaigns import rendering
from services.marketing_lists import sending


class TemplateError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def validate(name: str, subject: str, html_body: str, text_body: str,
             template_id: int | None = None) -> list[TemplateError]:
    errors = [TemplateError(field, message) for field, message in
              rendering.syntax_errors(subject, html_body, text_body).items()]
    if not (html_body or "").strip() and not (text_body or "").strip():
        errors.append(TemplateError("html_body", "Write an HTML body, a text body, or both."))
    other = db.session.scalar(select(EmailTemplate.id).where(EmailTemplate.name == name))
    if other is not None and other != template_id:
        errors.append(TemplateError("name", "This value is already used."))
    return errors


def save(template: EmailTemplate | None, *, name: str, subject: str, html_body: str,
         text_body: str, owner_id: int | None = None) -> EmailTemplate:
    errors = validate(name, subject, html_body, text_body, template.id if template else None)
    if errors:
        raise errors[0]
    template = template or EmailTemplate(owner_id=owner_id)
    template.name, template.subject = name, subject
    template.html_body, template.text_body = html_body or "", text_body or ""
    db.session.add(template)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise TemplateError("name", "This value is already used.") from exc
    return template


def delete(template: EmailTemplate) -> None:
    used = db.session.scalar(select(EmailCampaign.name).where(
        EmailCampaign.template_id == template.id).limit(1))
    if used:
        raise TemplateError("name", f"The template is used by the email campaign {used}.")
    db.session.delete(template)
    db.session.commit()


def sample_member(list_id: int | None) -> tuple[str, dict, str]:
    """(email, fields, description) of the member a preview renders for."""
    if list_id and db.session.get(MarketingList, list_id) is not None:
        first = next(iter(sending.iter_sending_set(list_id, batch_size=1)), [])
        if first:
            member = first[0]
            return member.email, member.fields, f"the first member of the list ({member.email})"
        return (rendering.SAMPLE_FIELDS["email"], rendering.SAMPLE_FIELDS,
                "a sample member (the list has no one to send to)")
    return rendering.SAMPLE_FIELDS["email"], rendering.SAMPLE_FIELDS, "a sample member"


def preview(template: EmailTemplate, list_id: int | None = None) -> dict:
    email, fields, who = sample_member(list_id)
    ctx = rendering.context(email, fields, {"unsubscribe_url": "#unsubscribe-preview"})
    try:
        compiled = rendering.compile_template(template.subject, template.html_body,
                                              template.text_body)
        rendered = rendering.render(compiled, ctx)
    except rendering.RenderError as exc:
        return {"who": who, "error": str(exc), "rendered": None}
    return {"who": who, "error": None, "rendered": rendered}
