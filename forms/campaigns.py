"""The marketing campaign form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms import DecimalField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional
from wtforms.validators import Regexp

from models.campaigns import CODE_MAX
from models.campaigns import NAME_MAX
from models.campaigns import ReportScale
from services.campaigns.service import CODE_MESSAGE
from services.campaigns.service import CODE_PATTERN
from services.campaigns.service import CURRENCIES

BLANK = "This value should not be blank."


def _too_long(limit: int) -> str:
    return f"This value is too long. It should have {limit} characters or less."


def owner_choices():
    from sqlalchemy import select

    from extensions import db
    from models.users import User

    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.email))
    return [(u.id, u.display_name) for u in users]


class CampaignForm(FlaskForm):
    owner_id = SelectField("Owner", coerce=int, validators=[InputRequired(BLANK)])
    name = StringField("Name", filters=[lambda v: v.strip() if v else v],
                       validators=[DataRequired(BLANK), Length(max=NAME_MAX,
                                                               message=_too_long(NAME_MAX))])
    code = StringField("Code", filters=[lambda v: v.strip() if v else v],
                       validators=[DataRequired(BLANK),
                                   Length(max=CODE_MAX, message=_too_long(CODE_MAX)),
                                   Regexp(CODE_PATTERN, message=CODE_MESSAGE)])
    start_date = DateField("Start Date", validators=[Optional()])
    end_date = DateField("End Date", validators=[Optional()])
    description = TextAreaField("Description", validators=[Length(max=20000)])
    budget = DecimalField("Budget", places=2, validators=[
        Optional(), NumberRange(min=0, message="This value should be 0 or more.")])
    currency = SelectField("Currency", choices=[(c, c) for c in CURRENCIES], default="USD")
    report_scale = SelectField("Report Scale", choices=[(s.value, s.label) for s in ReportScale],
                               default=ReportScale.DAILY.value,
                               description="If the chart would have more than 40 points, it "
                                           "switches to a larger scale.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner_id.choices = owner_choices()
