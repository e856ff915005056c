"""Alert notifications through apprise: one message per alert that fired or resolved, to every URL in
settings (email, Slack, Teams, generic JSON/form webhooks…). Snoozed alerts stay quiet."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import apprise

from analytics.alerts import Evaluation, is_snoozed, mark_notified
from analytics.db import Db

__all__ = ["alert_message", "notify_evaluation"]

log = logging.getLogger("analytics.notify")


def alert_message(alert: Mapping[str, Any], *, resolved: bool, dashboard_url: str) -> tuple[str, str]:
    """(title, body) of the notification for one alert."""
    state = "RESOLVED" if resolved else "FIRING"
    title = f"[payops {state}] {alert['title']}"
    lines = [str(alert["message"])]
    if resolved:
        lines.insert(0, f"Cleared at {alert['resolved_at']} (firing since {alert['first_fired_at']}).")
    lines.append(f"Severity {alert['severity']} · alert #{alert['id']} · rule {alert['rule']}")
    base = dashboard_url.rstrip("/")
    lines.append(f"Alerts: {base}/alerts?alert={alert['id']}")
    if alert.get("link"):
        lines.append(f"Details: {base}/{alert['link']}")
    return title, "\n".join(lines)


def notify_evaluation(
    db: Db, evaluation: Evaluation, *, urls: Sequence[str], dashboard_url: str, at: datetime
) -> int:
    """Notify every alert the evaluation fired or resolved (unless snoozed); returns how many were sent.

    A failed delivery is logged (without the URL, which may carry a token) and does not stop the others.
    """
    if not urls:
        return 0
    targets = apprise.Apprise()
    for url in urls:
        if not targets.add(url):
            log.error("an alert notification URL is not understood by apprise; check ALERT_NOTIFY_URLS")
    if not len(targets):
        return 0
    sent: list[int] = []
    for alerts, resolved in ((evaluation.fired, False), (evaluation.resolved, True)):
        for alert in alerts:
            if is_snoozed(alert, at):
                continue
            title, body = alert_message(alert, resolved=resolved, dashboard_url=dashboard_url)
            kind = apprise.NotifyType.SUCCESS if resolved else apprise.NotifyType.FAILURE
            if targets.notify(title=title, body=body, notify_type=kind):
                sent.append(int(alert["id"]))
            else:
                log.error("alert %s notification failed for at least one URL", alert["id"])
    mark_notified(db, sent, at)
    return len(sent)
