"""Email campaign jobs: send one campaign, and the every-minute run for deferred ones."""

from __future__ import annotations

from extensions import db
from jobs.registry import job
from jobs.runner import JobError
from jobs.runner import enqueue
from jobs.runner import report
from models.email_campaigns import EmailCampaign
from models.jobs import JobRun
from services.email_campaigns import sender  # noqa: F401 - registers the "email" transport
from services.email_campaigns import service
from services.email_campaigns import transports


@job(service.SEND_JOB, queue="email", label="Send email campaign")
def send_email_campaign(run: JobRun, email_campaign_id: int) -> None:
    campaign = db.session.get(EmailCampaign, email_campaign_id)
    if campaign is None:
        raise JobError("The email campaign no longer exists.")
    if campaign.is_sent:
        report(run, phase="already sent")
        return
    problems = service.send_problems(campaign)
    if problems:
        raise JobError(" ".join(problems))
    transports.get(campaign.transport).send(run, campaign)


@job("email_campaigns_deferred", label="Send due deferred email campaigns")
def send_deferred_campaigns(run: JobRun) -> None:
    started = skipped = 0
    for campaign in service.due_campaigns():
        if service.send_problems(campaign):
            skipped += 1
            continue
        enqueue(service.SEND_JOB, service.target_of(campaign.id),
                {"email_campaign_id": campaign.id})
        started += 1
    report(run, phase="done", started=started, skipped=skipped)
