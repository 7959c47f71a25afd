"""Send an email campaign over SMTP, at most once per recipient, resumable.

Every recipient gets a row in ``email_campaign_recipients`` (unique per campaign and
record) before anything is sent. Its status moves queued → sending → sent, and the
"sending" mark is committed BEFORE the message is handed to the SMTP server. A retry
after a crash, a kill or a timeout skips every row that is not "queued" (or "failed",
which was never handed over), so nobody is mailed twice.

The trade-off is deliberate: a worker killed between that commit and the server's
reply leaves one row "sending" whose message may or may not have gone out, and the
retry does not send it again. For marketing mail, at most once beats at least once: a
duplicate in someone's inbox costs more trust (and spam complaints) than one missed
promotion, and the uncertain row stays visible in the Recipients grid as "Unconfirmed".

A durable commit per message would cap sending at the database's fsync rate, so the
marks go in small windows (System > Configuration > SMTP Settings, "In-flight window",
default 20): one commit marks the next few recipients "sending" and records the previous
window "sent", then their messages go out on the one open connection. A hard kill can
therefore leave up to a window of "Unconfirmed" rows; a window of 1 makes it one message.
A failure the job sees (refusal, lost connection) is narrower still: only the message in
flight stays "sending", the rest of its window returns to "queued" for the retry.
"""

from __future__ import annotations

import smtplib
from urllib.parse import urlsplit

from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from extensions import db
from jobs.runner import JobError
from jobs.runner import report
from models.base import utcnow
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.email_campaigns import RecipientStatus
from models.jobs import JobRun
from models.marketing_activity import ActivityType
from services import marketing_activity
from services.email_campaigns import config
from services.email_campaigns import rendering
from services.email_campaigns import service
from services.email_campaigns import smtp
from services.email_campaigns import transports
from services.email_campaigns.links import LinkMaker
from services.marketing_lists import sending
from services.sql_lists import in_values
from services.table_statistics import GrowthAnalyzer

R = EmailCampaignRecipient.__table__
RETRYABLE = (RecipientStatus.QUEUED.value, RecipientStatus.FAILED.value)


def smtp_problems(campaign: EmailCampaign) -> list[str]:
    found = list(config.problems())
    template = campaign.template
    if template is None:
        found.append("Choose a template.")
    else:
        errors = rendering.syntax_errors(template.subject, template.html_body,
                                         template.text_body)
        if errors:
            found.append(f"The template {template.name} has errors: "
                         + "; ".join(errors.values()))
    found += service.list_problems(campaign.marketing_list)
    return found


def _status_counts(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(select(R.c.status, func.count()).where(
        R.c.email_campaign_id == campaign_id).group_by(R.c.status)).all()
    return {str(status): n for status, n in rows}


class _Run:
    """One attempt at sending a campaign; holds the open connection and counters."""

    def __init__(self, run: JobRun, campaign: EmailCampaign):
        self.run = run
        self.campaign = campaign
        self.cfg = config.smtp_config()
        template = campaign.template
        self.compiled = rendering.compile_template(template.subject, template.html_body,
                                                   template.text_body)
        self.sender = service.sender_of(campaign)
        base = config.public_url()
        self.links = LinkMaker(base)
        self.builder = smtp.MessageBuilder(self.sender, self.links,
                                           urlsplit(base).hostname or "listbridge.local")
        self.conn: smtplib.SMTP | None = None
        self.unconfirmed: list[int] = []  # handed over; "sent" goes in with the next commit
        self.sent = self.failed = 0
        self.statistics = GrowthAnalyzer(R.name)

    # -- bookkeeping ---------------------------------------------------------------
    def _queue(self, batch: list[sending.Recipient]) -> list[tuple[int, sending.Recipient]]:
        """Rows for new recipients; returns (row id, recipient) of those still to send."""
        by_entity = {r.entity_id: r for r in batch}
        known = dict(db.session.execute(select(R.c.entity_id, R.c.status).where(
            R.c.email_campaign_id == self.campaign.id,
            in_values(R.c.entity_id, by_entity))).all())
        new = [r for r in batch if r.entity_id not in known]
        if new:
            db.session.execute(insert(R), [{
                "email_campaign_id": self.campaign.id, "entity_type": r.entity_type,
                "entity_id": r.entity_id, "email": r.email,
                "status": RecipientStatus.QUEUED.value, "contact_recorded": False,
                "open_count": 0, "click_count": 0, "bounce_count": 0, "abuse_count": 0,
                "unsubscribe_count": 0} for r in new])
            db.session.commit()
            self.statistics.wrote(len(new))
        todo = db.session.execute(select(R.c.id, R.c.entity_id).where(
            R.c.email_campaign_id == self.campaign.id, in_values(R.c.entity_id, by_entity),
            R.c.status.in_(RETRYABLE)).order_by(R.c.entity_id)).all()
        return [(row.id, by_entity[row.entity_id]) for row in todo]

    def _confirm_sent(self) -> None:
        if self.unconfirmed:
            db.session.execute(update(R).where(in_values(R.c.id, self.unconfirmed)).values(
                status=RecipientStatus.SENT.value, sent_at=utcnow(), error=None))
            self.unconfirmed = []

    def _fail(self, rid: int, recipient: sending.Recipient, message: str) -> None:
        db.session.execute(update(R).where(R.c.id == rid).values(
            status=RecipientStatus.FAILED.value, error=message[:2000]))
        self.failed += 1

    def _record_contacts(self) -> None:
        """Total contacted, Last contacted at and the "send" activity, once per recipient.

        The flag and the list counters commit together (record_contacted commits the
        session), so a kill between batches neither loses nor doubles a contact.
        """
        rows = db.session.execute(select(R.c.id, R.c.entity_type, R.c.entity_id, R.c.sent_at)
                                  .where(R.c.email_campaign_id == self.campaign.id,
                                         R.c.contact_recorded.is_(False),
                                         R.c.status.in_([RecipientStatus.SENT.value,
                                                         RecipientStatus.SENDING.value]))
                                  ).all()
        if not rows:
            db.session.commit()
            return
        now = utcnow()
        marketing_activity.record_many([{
            "type": ActivityType.SEND, "source": "smtp", "campaign_id": self.campaign.campaign_id,
            "email_campaign_id": self.campaign.id, "entity_type": row.entity_type,
            "entity_id": row.entity_id, "action_date": row.sent_at or now,
            "key": marketing_activity.event_key(ActivityType.SEND, source="smtp",
                                                email_campaign_id=self.campaign.id,
                                                entity_type=row.entity_type,
                                                entity_id=row.entity_id)} for row in rows])
        db.session.execute(update(R).where(in_values(R.c.id, [r.id for r in rows])).values(
            contact_recorded=True))
        sending.record_contacted(self.campaign.marketing_list_id,
                                 [r.entity_id for r in rows], now)

    # -- sending -------------------------------------------------------------------
    def _prepare(self, rid: int, recipient: sending.Recipient):
        try:
            ctx = rendering.context(recipient.email, recipient.fields,
                                    {"unsubscribe_url": self.links.unsubscribe_url(rid)})
            rendered = rendering.render(self.compiled, ctx)
            return self.builder.build(rendered, recipient.email, rid)
        except (rendering.RenderError, ValueError) as exc:
            self._fail(rid, recipient, str(exc))
            return None

    def _requeue(self, rids: list[int]) -> None:
        if rids:
            db.session.execute(update(R).where(in_values(R.c.id, rids)).values(
                status=RecipientStatus.QUEUED.value))

    def _send_window(self, window: list[tuple[int, sending.Recipient]]) -> None:
        """Mark a few recipients "sending" in one commit, then hand their messages over."""
        prepared = [(rid, r, m) for rid, r in window
                    if (m := self._prepare(rid, r)) is not None]
        if not prepared:
            return
        if self.conn is None:
            self.conn = smtp.connect(self.cfg)  # before any "sending" mark: nothing in doubt
        marking = [rid for rid, _, _ in prepared]
        # One statement and one commit: this window "sending", the previous one "sent".
        done, self.unconfirmed = self.unconfirmed, []
        is_done = in_values(R.c.id, done)
        db.session.execute(update(R).where(in_values(R.c.id, marking + done)).values(
            status=case((is_done, RecipientStatus.SENT.value),
                        else_=RecipientStatus.SENDING.value),
            sent_at=case((is_done, utcnow()), else_=R.c.sent_at)))
        db.session.commit()
        for position, (rid, recipient, message) in enumerate(prepared):
            later = [p[0] for p in prepared[position + 1:]]
            try:
                self.conn.sendmail(self.sender[0], [recipient.email], message)
            except smtplib.SMTPRecipientsRefused as exc:
                self._fail(rid, recipient, f"refused by the server: {_reply(exc.recipients)}")
                continue
            except smtplib.SMTPResponseException as exc:
                # An error reply before acceptance: this message was not delivered.
                if 500 <= exc.smtp_code < 600 and not isinstance(exc,
                                                                 smtplib.SMTPSenderRefused):
                    self._fail(rid, recipient,
                               f"rejected: {exc.smtp_code} {_text(exc.smtp_error)}")
                    continue
                self._requeue([rid, *later])
                raise smtp.SmtpUnavailable(f"SMTP server refused the message: {exc.smtp_code} "
                                           f"{_text(exc.smtp_error)}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                # Lost mid-conversation: this one may have gone and stays "sending"; the
                # rest of the window certainly did not.
                self.conn = None
                self._requeue(later)
                raise smtp.SmtpUnavailable(f"SMTP connection lost: {type(exc).__name__}: "
                                           f"{exc}") from exc
            self.unconfirmed.append(rid)
            self.sent += 1

    def execute(self) -> None:
        campaign = self.campaign
        total = db.session.scalar(select(func.count()).select_from(
            sending.sending_set_query(campaign.marketing_list_id).subquery()))
        before = _status_counts(campaign.id)
        done_before = before.get("sent", 0) + before.get("sending", 0)
        if not total and not done_before:
            raise JobError("No recipients: the marketing list has no subscribed members with "
                           "an email address.")
        report(self.run, phase="sending", total=max(total, done_before), progress=done_before)
        self._record_contacts()  # what a killed run sent but did not count yet
        try:
            for batch in sending.iter_sending_set(campaign.marketing_list_id,
                                                  self.cfg.batch_size):
                todo = self._queue(batch)
                for start in range(0, len(todo), self.cfg.window):
                    self._send_window(todo[start:start + self.cfg.window])
                self._confirm_sent()
                self._record_contacts()
                counts = _status_counts(campaign.id)
                report(self.run, progress=counts.get("sent", 0) + counts.get("sending", 0),
                       counts=self._counts(counts))
        except smtp.SmtpUnavailable as exc:
            self._confirm_sent()
            db.session.commit()
            self._record_contacts()
            report(self.run, counts=self._counts(_status_counts(campaign.id)))
            raise JobError(f"{exc} — retry to resume; recipients already sent are skipped.") \
                from exc
        finally:
            smtp.close(self.conn)
        counts = _status_counts(campaign.id)
        campaign.is_sent = True
        campaign.sent_at = utcnow()
        db.session.commit()
        report(self.run, phase="sent", counts=self._counts(counts))

    @staticmethod
    def _counts(counts: dict[str, int]) -> dict:
        # Failed recipients are listed, with the reason, in the campaign's Recipients grid.
        return {"sent": counts.get("sent", 0), "failed": counts.get("failed", 0),
                "unconfirmed": counts.get("sending", 0)}


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _reply(recipients: dict) -> str:
    return "; ".join(f"{code} {_text(msg)}" for code, msg in recipients.values())


def send_smtp(run: JobRun, campaign: EmailCampaign) -> None:
    _Run(run, campaign).execute()


transports.register(transports.Transport("email", "Email (SMTP)", send=send_smtp,
                                         problems=smtp_problems))
