"""The dotdigital Statistics block of an email campaign, from the campaign's summary.

Metrics, groups and labels are Oro's (emailCampaignStats); each reads the first summary
field present of its list (the Total variants count HTML and plain text), so a summary
missing a field shows "N/A" for that metric instead of failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    fields: tuple[str, ...]
    help: str
    percent: bool = False


POSITIVE = (
    ("", (
        Metric("sent", "Emails Sent", ("numTotalSent", "numSent"),
               "Emails sent to the campaign's recipients."),
        Metric("delivered", "Delivered", ("numTotalDelivered", "numDelivered"),
               "Emails that reached the recipient's mail server (sent minus bounces)."),
        Metric("delivered_pct", "Delivered %", ("percentageDelivered",),
               "Delivered emails as a share of emails sent.", True),
    )),
    ("Engagement", (
        Metric("opens", "Opens", ("numTotalOpens", "numOpens"),
               "Every time the email was opened, repeat opens included."),
        Metric("unique_opens", "Unique Opens", ("numTotalUniqueOpens", "numUniqueOpens"),
               "Recipients who opened the email at least once."),
        Metric("unique_opens_pct", "Unique opens %", ("percentageUniqueOpens",),
               "Unique opens as a share of delivered emails.", True),
        Metric("estimated_forwards", "Estimated forwards",
               ("numTotalEstimatedForwards", "numEstimatedForwards"),
               "Opens from addresses the email was not sent to: forwarded copies."),
    )),
    ("Interaction", (
        Metric("recipients_clicked", "Recipient clicks", ("numRecipientsClicked",),
               "Recipients who clicked at least one link."),
        Metric("recipients_clicked_pct", "Recipient clicks %", ("percentageUsersClicked",),
               "Recipients who clicked as a share of delivered emails.", True),
        Metric("clicks", "Clicks", ("numTotalClicks", "numClicks"),
               "Every link click, repeat clicks included."),
        Metric("click_to_open", "Click to open rate", ("percentageClicksToOpens",),
               "Recipients who clicked as a share of those who opened.", True),
        Metric("page_views", "Page views", ("numTotalPageViews", "numPageViews"),
               "Views of the campaign's web version and landing pages."),
        Metric("replies", "Total replies", ("numTotalReplies", "numReplies"),
               "Replies received to the email."),
        Metric("replies_pct", "Replies %", ("percentageReplies",),
               "Replies as a share of delivered emails.", True),
        Metric("forwards", "Forwards", ("numForwards", "numTextForwards"),
               "Times recipients used the forward-to-a-friend link."),
    )),
)
NEGATIVE = (
    Metric("hard_bounces", "Hard Bounces", ("numTotalHardBounces", "numHardBounces"),
           "Permanent delivery failures (address unknown or refused); not mailed again."),
    Metric("hard_bounces_pct", "Hard Bounces %", ("percentageHardBounces",),
           "Hard bounces as a share of emails sent.", True),
    Metric("soft_bounces", "Soft Bounces", ("numTotalSoftBounces", "numSoftBounces"),
           "Temporary delivery failures (mailbox full, server down)."),
    Metric("soft_bounces_pct", "Soft Bounces %", ("percentageSoftBounces",),
           "Soft bounces as a share of emails sent.", True),
    Metric("unsubscribes", "Unsubscribes", ("numTotalUnsubscribes", "numUnsubscribes"),
           "Recipients who unsubscribed through this campaign."),
    Metric("unsubscribes_pct", "Unsubscribes %", ("percentageUnsubscribes",),
           "Unsubscribes as a share of delivered emails.", True),
    Metric("isp_complaints", "ISP Complaints", ("numTotalIspComplaints", "numIspComplaints"),
           "Recipients who marked the email as spam in their mail client."),
)
CHART = ("sent", "delivered", "unique_opens", "recipients_clicked", "hard_bounces",
         "soft_bounces", "unsubscribes", "isp_complaints")


def value(summary: dict | None, metric: Metric) -> float | None:
    for name in metric.fields:
        raw = (summary or {}).get(name)
        if raw is None or isinstance(raw, bool):
            continue
        try:
            return float(raw)
        except (TypeError, ValueError):
            continue
    return None


def display(summary: dict | None, metric: Metric) -> str:
    number = value(summary, metric)
    if number is None:
        return "N/A"
    if metric.percent:
        return f"{number:.2f}%"
    return f"{int(number):,}"


def all_metrics() -> list[Metric]:
    return [m for _, group in POSITIVE for m in group] + list(NEGATIVE)


def chart_svg(summary: dict | None, title: str) -> bytes:
    """A bar chart of the main counts, as a static SVG (no script)."""
    import pygal
    from pygal.style import LightStyle

    by_key = {m.key: m for m in all_metrics()}
    chart = pygal.HorizontalBar(title=title, width=900, height=360, style=LightStyle, js=[],
                                show_legend=False, no_data_text="No statistics yet",
                                print_values=True)
    labels, values = [], []
    for key in CHART:
        number = value(summary, by_key[key])
        labels.append(by_key[key].label)
        values.append(int(number) if number is not None else None)
    chart.x_labels = labels
    if any(v for v in values):
        chart.add("Count", values)
    # pygal embeds its config script; the chart is static and must carry none.
    return re.sub(rb"<script\b.*?</script>", b"", chart.render(), flags=re.DOTALL | re.I)
