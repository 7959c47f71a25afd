"""The tracking website form, and the snippet options."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import URL
from wtforms.validators import DataRequired
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import Regexp

BLANK = "This value should not be blank."
MAX = 255


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def owner_choices() -> list[tuple[int, str]]:
    from sqlalchemy import select

    from extensions import db
    from models.users import User

    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.email))
    return [(u.id, u.display_name) for u in users]


class WebsiteForm(FlaskForm):
    owner_id = SelectField("Owner", coerce=int, validators=[InputRequired(BLANK)])
    name = StringField("Name", filters=[_strip], validators=[
        DataRequired(BLANK), Length(max=MAX, message=f"This value is too long. It should "
                                                     f"have {MAX} characters or less.")])
    identifier = StringField("Identifier", filters=[_strip], validators=[
        DataRequired(BLANK), Length(max=MAX, message=f"This value is too long. It should "
                                                     f"have {MAX} characters or less."),
        # Control characters would not survive a query string or a copy-paste.
        Regexp(r"^[^\x00-\x1f\x7f]*$", message="This value contains invalid characters.")],
        description="The Matomo site id (idsite). When hits are forwarded to Matomo it must "
                    "equal the Matomo Website ID.")
    url = StringField("URL", filters=[_strip], validators=[
        DataRequired(BLANK), Length(max=MAX), URL(require_tld=False,
                                                  message="This value is not a valid URL.")])
    description = TextAreaField("Description", filters=[_strip],
                                validators=[Optional(), Length(max=10_000)])


class SnippetOptionsForm(FlaskForm):
    """GET form on the view page: regenerates the snippet, changes nothing."""

    class Meta:
        csrf = False

    campaign = StringField("Bind to campaign (code)", filters=[_strip],
                           validators=[Optional(), Length(max=MAX)])
    respect_dnt = BooleanField("Respect Do Not Track")
    cookieless = BooleanField("Cookieless (no tracking cookies)")
    require_consent = BooleanField("Require consent")
    noscript = BooleanField("Image pixel for visitors without JavaScript")
    csp_safe = BooleanField("No inline script (strict Content-Security-Policy)")
