"""Email campaigns: saving, whether one can be sent, and starting the send job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select

from extensions import db
from models.base import utcnow
from models.email_campaigns import EmailCampaign
from models.email_campaigns import Schedule
from models.integrations import Integration
from models.jobs import JobRun
from models.jobs import JobStatus
from models.lists import MarketingList
from services import integrations
from services import records
from services.email_campaigns import config
from services.email_campaigns import transports

SEND_JOB = "email_campaign_send"
NO_EMAIL_COLUMN = ("The marketing list has no email column: add one to its columns to send "
                   "email campaigns to it.")
# A deferred campaign whose run failed is retried by the every-minute cron, but not
# more often than this, so a broken configuration does not fail a run every minute.
DEFERRED_RETRY_AFTER = timedelta(minutes=10)


class EmailCampaignError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class EmailCampaignData:
    name: str
    marketing_list_id: int
    schedule: Schedule = Schedule.MANUAL
    scheduled_for: datetime | None = None
    owner_id: int | None = None
    sender_email: str = ""
    sender_name: str = ""
    campaign_id: int | None = None
    description: str = ""
    transport: str = "email"
    template_id: int | None = None
    # Only for transports with an integration_type; stored in transport_settings.
    integration_id: int | None = None


def list_problems(mlist: MarketingList | None) -> list[str]:
    if mlist is None:
        return ["The marketing list no longer exists."]
    record_type = records.RECORD_TYPES.get(mlist.entity)
    if record_type is None:
        return [f"The marketing list's record type {mlist.entity!r} is not available."]
    chosen = [c.get("field") for c in (mlist.columns or []) if isinstance(c, dict)]
    if not any(key in record_type.fields and record_type.fields[key].type == "email"
               for key in chosen):
        return [NO_EMAIL_COLUMN]
    return []


def validate(data: EmailCampaignData) -> list[EmailCampaignError]:
    errors = []
    transport = transports.get(data.transport)
    if transport is None:
        errors.append(EmailCampaignError("transport", "Choose a transport."))
    else:
        if transport.requires_template and not data.template_id:
            errors.append(EmailCampaignError("template_id", "This value should not be blank."))
        errors.extend(_integration_errors(transport, data.integration_id))
    if data.schedule is Schedule.DEFERRED and data.scheduled_for is None:
        errors.append(EmailCampaignError("scheduled_for", "This value should not be blank."))
    if data.marketing_list_id:  # none chosen: the form's own "should not be blank"
        for problem in list_problems(db.session.get(MarketingList, data.marketing_list_id)):
            errors.append(EmailCampaignError("marketing_list_id", problem))
    return errors


def integration_choices(transport_key: str | None) -> list[Integration]:
    """The integrations a campaign of this transport may go through (none: no such field)."""
    transport = transports.get(transport_key or "")
    if transport is None or transport.integration_type is None:
        return []
    return integrations.of_type(transport.integration_type, enabled_only=True)


def _integration_errors(transport: transports.Transport,
                        integration_id: int | None) -> list[EmailCampaignError]:
    if transport.integration_type is None:
        return []
    chosen = db.session.get(Integration, integration_id) if integration_id else None
    if chosen is not None and chosen.type == transport.integration_type and chosen.enabled:
        return []
    kind = integrations.TYPES.get(transport.integration_type)
    label = kind.label if kind is not None else transport.integration_type
    if chosen is None:
        message = f"Choose the {label} integration."
    else:
        # Another type's id, or disabled since the form was opened.
        message = (f"Choose the {label} integration: {chosen.name} is not an enabled "
                   f"{label} integration.")
    return [EmailCampaignError("integration_id", message)]


def integration_of(campaign: EmailCampaign) -> Integration | None:
    """The integration the campaign's transport goes through, if it has one and it exists."""
    transport = transports.get(campaign.transport)
    raw = (campaign.transport_settings or {}).get("integration_id")
    if transport is None or transport.integration_type is None or not isinstance(raw, int):
        return None
    integration = db.session.get(Integration, raw)
    return integration if integration is not None and \
        integration.type == transport.integration_type else None


def save(campaign: EmailCampaign | None, data: EmailCampaignData) -> EmailCampaign:
    errors = validate(data)
    if errors:
        raise errors[0]
    if campaign is not None and campaign.is_sent:
        raise EmailCampaignError("name", "A sent email campaign cannot be changed.")
    campaign = campaign or EmailCampaign()
    for name, value in vars(data).items():
        if name == "integration_id":
            continue
        setattr(campaign, name, value.strip() if isinstance(value, str) else value)
    # A new dict, so the JSON column sees the change; other keys (remote ids) are kept.
    transport_settings = dict(campaign.transport_settings or {})
    if transports.get(data.transport).integration_type is not None:
        transport_settings["integration_id"] = data.integration_id
    else:
        transport_settings.pop("integration_id", None)
    campaign.transport_settings = transport_settings
    if data.schedule is Schedule.MANUAL:
        campaign.scheduled_for = None
    db.session.add(campaign)
    db.session.commit()
    return campaign


def delete(campaign: EmailCampaign) -> None:
    """Delete with its recipients and activities (explicit: SQLite skips ON DELETE)."""
    from sqlalchemy import delete as sql_delete

    from models.email_campaigns import EmailCampaignRecipient
    from models.marketing_activity import MarketingActivity

    db.session.execute(sql_delete(MarketingActivity).where(
        MarketingActivity.email_campaign_id == campaign.id))
    db.session.execute(sql_delete(EmailCampaignRecipient).where(
        EmailCampaignRecipient.email_campaign_id == campaign.id))
    db.session.delete(campaign)
    db.session.commit()


def sender_of(campaign: EmailCampaign) -> tuple[str, str]:
    """Sender email and name, falling back to the Campaign settings."""
    email, name = config.default_sender()
    return (campaign.sender_email or email), (campaign.sender_name or name)


def send_problems(campaign: EmailCampaign) -> list[str]:
    """Why the campaign cannot be sent now; empty when it can."""
    if campaign.is_sent:
        return ["The email campaign was already sent."]
    transport = transports.get(campaign.transport)
    if transport is None:
        return [f"The transport {campaign.transport!r} is not available."]
    return list(transport.problems(campaign))


def latest_run(campaign: EmailCampaign) -> JobRun | None:
    return db.session.scalar(select(JobRun).where(
        JobRun.kind == SEND_JOB, JobRun.target == target_of(campaign.id))
        .order_by(JobRun.id.desc()).limit(1))


def target_of(campaign_id: int) -> str:
    return f"email_campaign:{campaign_id}"


def request_send(campaign: EmailCampaign, user_id: int | None = None) -> JobRun:
    """Queue the send job (or return the run already under way)."""
    import jobs

    problems = send_problems(campaign)
    if problems:
        raise EmailCampaignError("send", " ".join(problems))
    return jobs.enqueue(SEND_JOB, target_of(campaign.id), {"email_campaign_id": campaign.id},
                        user_id=user_id)


def due_campaigns(now: datetime | None = None) -> list[EmailCampaign]:
    """Deferred, unsent campaigns whose time has come and that are not in a retry pause."""
    now = now or utcnow()
    due = db.session.scalars(select(EmailCampaign).where(
        EmailCampaign.is_sent.is_(False), EmailCampaign.schedule == Schedule.DEFERRED,
        EmailCampaign.scheduled_for <= now).order_by(EmailCampaign.scheduled_for)).all()
    ready = []
    for campaign in due:
        run = latest_run(campaign)
        if run is not None and run.status is JobStatus.FAILED and run.finished_at \
                and run.finished_at > now - DEFERRED_RETRY_AFTER:
            continue
        ready.append(campaign)
    return ready
