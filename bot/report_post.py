"""A report in Slack: its summary where it was asked for, and in the asker's DM with the bot the burn-up
chart and the whole report as a CSV file (an ephemeral answer cannot carry files). The weekly digest and
the retrospective go to the plan's channel through bot/story_posts.py."""

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sync_post import _png
from models.views.reply import Document
from models.views.report import Report, as_csv

log = logging.getLogger(__name__)


def send_report(client: WebClient, report: Report, user: str) -> str | None:
    """Upload the chart and the CSV to ``user``'s DM with the bot, as one message; the DM's id, or None when
    Slack refused (logged: the summary was shown all the same)."""
    try:
        dm = client.conversations_open(users=user)["channel"]["id"]
        client.files_upload_v2(
            channel=dm,
            initial_comment=f"{report.title}: the burn-up chart and the whole report as CSV.",
            file_uploads=[
                {
                    "content": burnup_chart(report),
                    "filename": f"{_name(report)}-burnup.png",
                    "title": f"{report.plan}: burn-up, {report.start} to {report.end}",
                },
                {"content": as_csv(report), "filename": f"{_name(report)}.csv", "title": report.title},
            ],
        )
        return dm
    except SlackApiError as exc:
        log.warning("the report's files to %s failed: %s", user, exc.response.get("error"))
        return None


def send_document(client: WebClient, document: Document, user: str) -> str | None:
    """`report --format csv|json` in Slack: the file itself to the asker's DM (the answer shows its start)."""
    try:
        dm = client.conversations_open(users=user)["channel"]["id"]
        client.files_upload_v2(channel=dm, content=document.content, filename=document.filename, title=document.title)
        return dm
    except SlackApiError as exc:
        log.warning("the report's file to %s failed: %s", user, exc.response.get("error"))
        return None


def _name(report: Report) -> str:
    scope = report.stream or report.agent
    return f"{report.plan}-report-{report.start}-{report.end}" + (f"-{scope}" if scope else "")


def burnup_chart(report: Report) -> bytes:
    """Estimate done by each working day's close against estimate planned by then (hours, cumulative)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a PNG in memory
    from matplotlib import pyplot

    # One slot per working day (a weekend is no gap), the plan's whole estimate as the ceiling.
    slots = range(len(report.burnup))
    # 800 px wide, its text large enough to read in the preview Slack shows (about half that width).
    figure, axes = pyplot.subplots(figsize=(6.4, 3.6), dpi=125)
    try:
        if report.burnup:
            planned = [p.planned_h for p in report.burnup]
            done = [p.done_h for p in report.burnup]
            axes.axhline(report.scope_h, color="#455a64", linewidth=1, label=f"all tasks ({report.scope_h:g} h)")
            axes.plot(slots, planned, label="planned", color="#78909c", linestyle="--", marker=".")
            axes.plot(slots, done, label="done", color="#2e7d32", marker="o")
            axes.fill_between(slots, done, color="#2e7d32", alpha=0.12)
            every = max(1, len(slots) // 12)  # at most a dozen labels, however long the range
            axes.set_xticks(list(slots)[::every], [f"{p.day:%a %d %b}" for p in report.burnup][::every])
            axes.set_ylim(0, max(report.scope_h, max(done), max(planned), 1) * 1.12)
            # Above the axes, under the title: inside, it would sit on the "all tasks" line or the lines near it.
            axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)
        else:
            axes.text(0.5, 0.5, "no working day in the range", ha="center", va="center", transform=axes.transAxes)
        axes.set_ylabel("hours of estimate (cumulative)")
        axes.set_title(
            f"{report.plan}{f' · {report.stream or report.agent}' if report.stream or report.agent else ''}"
            f" — burn-up {report.start} to {report.end}",
            pad=24 if report.burnup else None,  # room for the legend
        )
        figure.autofmt_xdate()
        return _png(figure)
    finally:
        pyplot.close(figure)
