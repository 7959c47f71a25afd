"""Email template and email campaign forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateTimeLocalField
from wtforms import EmailField
from wtforms import RadioField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import Email
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional

from extensions import db
from forms.campaigns import BLANK
from forms.campaigns import owner_choices
from models.campaigns import Campaign
from models.email_campaigns import EmailTemplate
from models.email_campaigns import Schedule
from models.lists import MarketingList
from services.email_campaigns import service
from services.email_campaigns import transports


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _too_long(limit: int) -> str:
    return f"This value is too long. It should have {limit} characters or less."


def _optional_id(value):
    return int(value) if value not in (None, "", "None") else None


class EmailTemplateForm(FlaskForm):
    name = StringField("Name", filters=[_strip], validators=[
        DataRequired(BLANK), Length(max=100, message=_too_long(100))])
    subject = StringField("Subject", filters=[_strip], validators=[
        DataRequired(BLANK), Length(max=255, message=_too_long(255))])
    html_body = TextAreaField("HTML body", validators=[Length(max=500_000)])
    text_body = TextAreaField("Text body", validators=[Length(max=500_000)])


class EmailCampaignForm(FlaskForm):
    name = StringField("Name", filters=[_strip], validators=[
        DataRequired(BLANK), Length(max=100, message=_too_long(100))])
    marketing_list_id = SelectField("Marketing List", coerce=_optional_id,
                                    validators=[InputRequired(BLANK)])
    schedule = RadioField("Schedule", choices=[(s.value, s.label) for s in Schedule],
                          default=Schedule.MANUAL.value)
    scheduled_for = DateTimeLocalField("Scheduled For (UTC)", format="%Y-%m-%dT%H:%M",
                                       validators=[Optional()])
    owner_id = SelectField("Owner", coerce=int, validators=[InputRequired(BLANK)])
    sender_email = EmailField("Sender Email", filters=[_strip], validators=[
        Optional(), Email("This value is not a valid email address."),
        Length(max=100, message=_too_long(100))])
    sender_name = StringField("Sender Name", filters=[_strip], validators=[
        Length(max=100, message=_too_long(100))])
    campaign_id = SelectField("Campaign", coerce=_optional_id, validators=[Optional()])
    description = TextAreaField("Description", validators=[Length(max=20000)])
    transport = SelectField("Transport")
    template_id = SelectField("Template", coerce=_optional_id, validators=[Optional()])
    # Choices follow the transport; the service checks the value (type, enabled) with a
    # message naming the integration type, so the bare choice check is off.
    integration_id = SelectField("Integration", coerce=_optional_id, validate_choice=False,
                                 validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner_id.choices = owner_choices()
        self.marketing_list_id.choices = [("", "Choose a marketing list…")] + [
            (m.id, m.name) for m in db.session.scalars(
                select(MarketingList).order_by(MarketingList.name))]
        self.campaign_id.choices = [("", "None")] + [
            (c.id, f"{c.name} ({c.code})") for c in db.session.scalars(
                select(Campaign).order_by(Campaign.name))]
        self.template_id.choices = [("", "Choose a template…")] + [
            (t.id, t.name) for t in db.session.scalars(
                select(EmailTemplate).order_by(EmailTemplate.name))]
        self.transport.choices = transports.choices()
        self.integration_id.choices = [("", "Choose an integration…")] + [
            (i.id, i.name) for i in service.integration_choices(self.transport.data)]
        # Required for such transports; the check itself is the service's (see above).
        self.integration_id.flags.required = self.needs_integration

    @property
    def needs_integration(self) -> bool:
        transport = transports.get(self.transport.data or "")
        return transport is not None and transport.integration_type is not None
