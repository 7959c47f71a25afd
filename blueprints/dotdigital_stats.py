"""The dotdigital Statistics chart of an email campaign; importing this module also
registers the "dotdigital" email-campaign transport whose panel shows the statistics."""

from __future__ import annotations

from flask import Response
from flask import abort

from blueprints.dotdigital import bp
from extensions import db
from integrations.dotdigital import campaigns
from integrations.dotdigital import stats
from integrations.dotdigital import transport  # noqa: F401 - registers the transport
from models.email_campaigns import EmailCampaign


@bp.get("/email-campaigns/<int:campaign_id>/statistics.svg")
def campaign_stats_chart(campaign_id: int):
    campaign = db.session.get(EmailCampaign, campaign_id) or abort(404)
    dc = campaigns.for_email_campaign(campaign.id)
    if dc is None:
        abort(404)
    return Response(stats.chart_svg(dc.summary, f"dotdigital statistics: {campaign.name}"),
                    mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})
