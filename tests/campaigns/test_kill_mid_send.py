"""SIGKILL the send job mid-way, then retry: nobody mailed twice, nobody left out."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

import jobs
from extensions import db
from models.email_campaigns import EmailCampaign
from models.email_campaigns import EmailCampaignRecipient
from models.email_campaigns import RecipientStatus
from models.jobs import JobRun
from models.lists import MarketingListItem
from services.email_campaigns import service
from tests import factories_campaigns as fc
from tests.campaigns.conftest import configure
from tests.campaigns.smtp_server import RecordingHandler
from tests.campaigns.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import sys
from app import create_app
from tests.conftest import _test_config
app = create_app(_test_config(sys.argv[1], sys.argv[2]))
with app.app_context():
    from jobs.runner import execute
    execute(int(sys.argv[3]))
"""


class SlowHandler(RecordingHandler):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("window", [1, 10])
def test_kill_mid_send_then_retry(app, database_url, tmp_path, window):
    size = 120
    mlist = fc.marketing_list(size=size)
    campaign = fc.email_campaign(mlist)
    with SmtpServer(SlowHandler()) as server:
        configure(server.port, **{"smtp.batch_size": 25, "smtp.window": window})
        run = JobRun(kind=service.SEND_JOB, target=service.target_of(campaign.id),
                     params={"email_campaign_id": campaign.id})
        db.session.add(run)
        db.session.commit()
        run_id, campaign_id, list_id = run.id, campaign.id, mlist.id
        db.session.remove()
        db.engine.dispose()  # the child gets the database to itself

        child = subprocess.Popen([sys.executable, "-c", WORKER, database_url, str(tmp_path),
                                  str(run_id)], cwd=ROOT, env={**os.environ},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(server.handler.recipients) < 40 and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        received_before = len(server.handler.recipients)
        assert 40 <= received_before < size, "the kill must land mid-way"

        assert not db.session.get(EmailCampaign, campaign_id).is_sent
        # The retry: what RQ (or a user's Resume sending) does with the same run.
        assert jobs.runner.execute(run_id) == "succeeded"
        received = server.handler.recipients

    db.session.expire_all()
    counts = Counter(received)
    assert max(counts.values()) == 1, "someone got the campaign twice"
    rows = db.session.scalars(select(EmailCampaignRecipient).where(
        EmailCampaignRecipient.email_campaign_id == campaign_id)).all()
    assert len(rows) == size, "every member has a send row"
    unconfirmed = [r.email for r in rows if r.status is RecipientStatus.SENDING]
    # At most the window in flight at the kill is uncertain, and none of it is resent.
    assert len(unconfirmed) <= window
    assert set(received) | set(unconfirmed) == {r.email for r in rows}, "nobody left out"
    assert len(received) >= size - window
    assert db.session.get(EmailCampaign, campaign_id).is_sent
    items = db.session.scalars(select(MarketingListItem).where(
        MarketingListItem.marketing_list_id == list_id)).all()
    assert {i.contacted_times for i in items} == {1}
