"""The fields every integration form shares; each type's form extends this one."""

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from extensions import db
from models.users import User


def owner_choices() -> list[tuple[str, str]]:
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.email))
    return [("", "—")] + [(str(u.id), u.display_name) for u in users]


class IntegrationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=255)])
    default_owner = SelectField("Default Owner", choices=[], validate_choice=False)
    enabled = BooleanField("Active", default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_owner.choices = owner_choices()

    def owner_id(self) -> int | None:
        raw = self.default_owner.data or ""
        return int(raw) if raw.isdigit() and db.session.get(User, int(raw)) else None
