"""Models, one module per area; importing this package registers them all."""

from models.campaigns import Campaign
from models.campaigns import CampaignCodeHistory
from models.contacts import Contact
from models.contacts import Lead
from models.dotdigital import DotdigitalCampaign
from models.dotdigital import DotdigitalOAuthToken
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.email_campaigns import EmailTemplate
from models.integrations import DataField
from models.integrations import FieldMapping
from models.integrations import FieldMappingRow
from models.integrations import Integration
from models.integrations import ListConnection
from models.integrations import RemoteImport
from models.integrations import RemoteList
from models.integrations import SyncState
from models.jobs import JobRun
from models.jobs import JobStatus
from models.lists import MarketingList
from models.lists import MarketingListItem
from models.lists import MarketingListRemovedItem
from models.lists import MarketingListUnsubscribedItem
from models.mailchimp import MailchimpCampaign
from models.mailchimp import MailchimpMergeField
from models.mailchimp import MailchimpRejection
from models.marketing_activity import MarketingActivity
from models.settings import Setting
from models.tracking import TrackingEvent
from models.tracking import TrackingVisit
from models.tracking import TrackingWebsite
from models.users import LoginAttempt
from models.users import Role
from models.users import User

__all__ = [
           "Campaign",
           "CampaignCodeHistory",
           "Contact",
           "DataField",
           "DotdigitalCampaign",
           "DotdigitalOAuthToken",
           "EmailCampaign",
           "EmailCampaignRecipient",
           "EmailTemplate",
           "FieldMapping",
           "FieldMappingRow",
           "Integration",
           "JobRun",
           "JobStatus",
           "Lead",
           "ListConnection",
           "LoginAttempt",
           "MailchimpCampaign",
           "MailchimpMergeField",
           "MailchimpRejection",
           "MarketingActivity",
           "MarketingList",
           "MarketingListItem",
           "MarketingListRemovedItem",
           "MarketingListUnsubscribedItem",
           "RemoteImport",
           "RemoteList",
           "Role",
           "Setting",
           "SyncState",
           "TrackingEvent",
           "TrackingVisit",
           "TrackingWebsite",
           "User",
]
