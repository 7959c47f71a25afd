"""Campaign codes on events → campaigns, matched when read.

Events store the raw code; a campaign's current code and its historical (renamed or
merged) codes all match. The campaigns module is imported lazily: tracking works, and
simply attributes nothing, where campaigns are not installed.
"""

from __future__ import annotations

from sqlalchemy import select

from extensions import db


def _campaign_models():
    try:
        from models import campaigns
    except ImportError:
        return None, None
    campaign = getattr(campaigns, "Campaign", None)
    history = next((getattr(campaigns, name) for name in
                    ("CampaignCodeHistory", "CampaignCode", "CodeHistory")
                    if hasattr(campaigns, name)), None)
    return campaign, history


def campaign_id_for_code(code: str | None) -> int | None:
    """The campaign whose current or historical code is ``code``, or None."""
    if not code:
        return None
    campaign, history = _campaign_models()
    if campaign is None or not hasattr(campaign, "code"):
        return None
    found = db.session.scalar(select(campaign.id).where(campaign.code == code).limit(1))
    if found is None and history is not None and hasattr(history, "code") \
            and hasattr(history, "campaign_id"):
        found = db.session.scalar(select(history.campaign_id)
                                  .where(history.code == code).limit(1))
    return found
