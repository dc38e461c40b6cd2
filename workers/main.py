"""Worker assembly: which workflows and activities run, with their dependencies."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.absences import AbsenceActivities
from activities.checkins import CheckinActivities
from activities.escalations import EscalationActivities
from activities.interactions import InteractionActivities
from activities.notifications import DeliveryChannel, LogChannel, NotificationActivities, WebhookChannel
from config.settings import Settings
from workers.interceptors import ActivityLogContext
from workflows import ALL_WORKFLOWS


def delivery_channel(settings: Settings) -> DeliveryChannel:
    if settings.channel == "webhook" and settings.webhook_url:
        return WebhookChannel(settings.webhook_url, settings.webhook_secret)
    return LogChannel()


def activity_objects(
    sessions: sessionmaker[Session],
    channel: DeliveryChannel,
    *,
    client: Client | None = None,
    **notify_kwargs: object,
) -> list[Callable[..., Any]]:
    """Every activity of the system, bound to its dependencies.

    ``client`` is the worker's Temporal client, which the absence fan-out signals with.
    """
    interactions = InteractionActivities(sessions)
    escalations = EscalationActivities(sessions)
    notifications = NotificationActivities(sessions, channel, **notify_kwargs)  # type: ignore[arg-type]
    absences = AbsenceActivities(sessions, client)
    checkins = CheckinActivities(sessions, notifications)
    return [
        interactions.sync_interaction,
        escalations.escalation_rule,
        escalations.sync_escalation,
        notifications.notify,
        absences.sync_absence,
        absences.fan_out_coverage,
        checkins.send_digests,
        checkins.team_calendar,
    ]


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: sessionmaker[Session],
    channel: DeliveryChannel,
    executor: ThreadPoolExecutor | None = None,
    **notify_kwargs: object,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        activities=activity_objects(sessions, channel, client=client, **notify_kwargs),
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
        max_concurrent_activities=16,
        interceptors=[ActivityLogContext()],
    )
