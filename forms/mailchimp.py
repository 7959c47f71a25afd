"""Mailchimp forms: the integration, and a marketing list's segment connection."""

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import URL
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import Regexp

from forms.integrations import IntegrationForm

INTERVALS = (("0", "Forever"), ("7", "1 week"), ("14", "2 weeks"), ("30", "1 month"),
             ("60", "2 months"), ("90", "3 months"))
PRIORITIES = (("remote", "Remote Wins"), ("local", "Local Wins"))
API_KEY = r"^[0-9a-f]{32}-[a-z]+[0-9]+$"


class MailchimpIntegrationForm(IntegrationForm):
    # Named "password" like every integration's secret: blank on edit keeps the stored key.
    password = PasswordField("API Key", validators=[
        Optional(), Regexp(API_KEY, message="An API key is 32 hexadecimal characters, a dash "
                                            "and the datacenter, e.g. …-us21.")])
    activity_interval = SelectField("Activity Update Interval", choices=INTERVALS, default="90")
    two_way_sync = BooleanField("Enable Two Way Sync", default=False)
    sync_priority = SelectField("Sync Priority", choices=PRIORITIES, default="remote")
    api_base_url = StringField("API endpoint", validators=[
        Optional(), URL(require_tld=False), Length(max=500)],
        description="Leave blank for Mailchimp (https://{dc}.api.mailchimp.com; /3.0 is added "
                    "and {dc} is the API key's datacenter).")


class ConnectForm(FlaskForm):
    segment_name = StringField("Mailchimp Segment Name", validators=[
        DataRequired("This value should not be blank."), Length(max=100)])
    integration = SelectField("Mailchimp Integration", choices=[], validate_choice=False,
                              validators=[DataRequired("Choose a Mailchimp integration.")])
    audience = SelectField("Mailchimp Subscribers List", choices=[], validate_choice=False,
                           validators=[DataRequired("Choose a Mailchimp audience.")])
