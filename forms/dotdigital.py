"""Dotdigital forms: the integration, the list connection, address books, data fields."""

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import IntegerField
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import URL
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional
from wtforms.validators import Regexp

from forms.integrations import IntegrationForm
from integrations.dotdigital.fields import TYPES
from integrations.dotdigital.fields import VISIBILITIES

VISIBILITY_CHOICES = [(v, v) for v in VISIBILITIES]


class DotdigitalIntegrationForm(IntegrationForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=255)])
    # Blank on edit keeps the stored password; required on create (checked in the view).
    password = PasswordField("Password", validators=[Optional(), Length(min=8, max=255)])
    client_id = StringField("Client ID", validators=[Optional(), Length(max=255)])
    client_secret = PasswordField("Client Secret key", validators=[Optional(), Length(max=255)])
    custom_domain = StringField("Custom OAuth Domain", validators=[
        Optional(), URL(require_tld=False), Length(max=255)])
    api_base_url = StringField("API endpoint", validators=[
        Optional(), URL(require_tld=False), Length(max=500)],
        description="Leave blank for dotdigital (r1); the account's region is discovered.")


class ConnectForm(FlaskForm):
    integration = SelectField("Integration", choices=[], validate_choice=False,
                              validators=[DataRequired("Choose dotdigital integration")])
    address_book = SelectField("dotdigital Address Book", choices=[], validate_choice=False,
                               validators=[DataRequired("Choose an address book.")])
    create_entities = BooleanField("Create New Entities")


class AddressBookForm(FlaskForm):
    integration = SelectField("Integration", choices=[], validate_choice=False,
                              validators=[DataRequired()])
    name = StringField("Name", validators=[DataRequired(), Length(max=128)])
    visibility = SelectField("Visibility", choices=VISIBILITY_CHOICES, default="Private")


class DataFieldForm(FlaskForm):
    integration = SelectField("Integration", choices=[], validate_choice=False,
                              validators=[DataRequired()])
    name = StringField("Name", validators=[
        DataRequired(), Length(max=20),
        Regexp(r"^[A-Za-z0-9_-]+$", message="Use only letters, digits, - and _.")])
    type = SelectField("Type", choices=[(t, t) for t in TYPES], default="String")
    visibility = SelectField("Visibility", choices=VISIBILITY_CHOICES, default="Private")
    default_value = StringField("Default Value", validators=[Optional(), Length(max=255)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=2000)])


class MappingForm(FlaskForm):
    integration = SelectField("Integration", choices=[], validate_choice=False,
                              validators=[DataRequired()])
    entity = SelectField("Entity", choices=[], validate_choice=False,
                         validators=[DataRequired()])
    sync_priority = IntegerField("Sync Priority", default=0, validators=[
        Optional(), NumberRange(min=-1000, max=1000)])
