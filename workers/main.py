"""Worker assembly: which workflows and activities run, with their dependencies, and the
worker process (Temporal worker + outbox dispatcher + periodic reconcile) with its graceful
shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.absences import AbsenceActivities
from activities.checkins import CheckinActivities
from activities.escalations import EscalationActivities
from activities.interactions import InteractionActivities
from activities.notifications import (
    DeliveryChannel,
    LogChannel,
    NotificationActivities,
    Outbox,
    WebhookChannel,
)
from activities.sessions import activity_sessions
from config.heap import settle_heap
from config.settings import Settings
from domain.ids import escalation_task_queue
from workers.interceptors import ActivityLogContext
from workers.outbox import Dispatcher
from workers.reconcile import Reconciler
from workers.retention import Retention
from workers.sandbox import (
    ContextFreeSandboxRunner,
    context_free,
    share_handler_hints,
    share_workflow_code,
    share_workflow_definitions,
    skip_idle_payload_walks,
)
from workflows.registry import ALL_WORKFLOWS

log = structlog.get_logger(__name__)
MAX_CACHED_WORKFLOWS = 1000
# The escalations' own sticky cache (their queue's worker, ``CaseWorker``): they run a workflow
# task when they start and then mostly wait hours, so a small cache serves them.
MAX_CACHED_ESCALATIONS = 200

# What a new sandboxed workflow instance takes from the worker's own imports instead of importing
# again (the SDK re-imports everything else for every new or evicted instance). Each is shared by
# every workflow instance of the process, so each holds no state a workflow could change; the
# reasons, one by one, are in docs/adr/sandbox.md. The modules that define the workflows
# themselves (workflows.interaction, .escalation, .absence, .checkin, .notification_group) are
# not listed: the sandbox re-imports them, so its runtime guard keeps watching their code.
WORKFLOW_PASSTHROUGH_MODULES: tuple[str, ...] = (
    # Our deterministic code: pure functions, frozen constants, pydantic message models.
    "domain",
    # Referenced by workflows for their activity definitions (names and signatures), never run
    # inside a workflow.
    "activities",
    # The message models' library and what it imports at module level.
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
    # The workflows' helper modules: constants, read-only activity options and classes whose
    # state lives in each workflow instance (workflows/common.py and the interaction's parts).
    "workflows.common",
    "workflows.interaction_contact",
    "workflows.interaction_escalations",
    "workflows.interaction_notices",
    "workflows.interaction_projection",
    "workflows.interaction_timers",
    "workflows.search_attributes",
)


def workflow_runner(sandbox: bool = True, converter: DataConverter | None = None) -> WorkflowRunner:
    """The worker's workflow runner: the SDK's sandbox with ``WORKFLOW_PASSTHROUGH_MODULES``
    passed through (the default), or no sandbox (``worker_workflow_sandbox=False``).

    With a data converter that takes no serialization context (no codec, no external storage:
    ours), the sandbox is not entered to ask for one for every payload, and the SDK's walks of an
    activation's payloads, which would hand each back unchanged, are skipped (``workers.sandbox``).
    The workflows' own modules, imported again for each new instance, reuse their code objects,
    and their classes the definitions ``@workflow.defn`` found on the worker's own import."""
    skip_idle_payload_walks()  # for a context-free converter only, decided per activation
    if not sandbox:
        return UnsandboxedWorkflowRunner()
    share_workflow_code({w.__module__ for w in ALL_WORKFLOWS})
    share_workflow_definitions(ALL_WORKFLOWS)
    share_handler_hints(WORKFLOW_PASSTHROUGH_MODULES)
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*WORKFLOW_PASSTHROUGH_MODULES)
    if converter is not None and context_free(converter):
        return ContextFreeSandboxRunner(restrictions=restrictions)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def delivery_channel(settings: Settings) -> DeliveryChannel:
    if settings.channel == "webhook" and settings.webhook_url:
        return WebhookChannel(settings.webhook_url, settings.webhook_secret or "")
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
    sessions = activity_sessions(sessions)  # a cancellation never lands inside a query
    notifications = NotificationActivities(sessions, channel, client=client, **notify_kwargs)  # type: ignore[arg-type]
    interactions = InteractionActivities(
        sessions, on_projected=notifications.task_updated, wants_projected=notifications.wants_task_updated
    )
    escalations = EscalationActivities(sessions)
    absences = AbsenceActivities(sessions, client)
    checkins = CheckinActivities(sessions, notifications)
    return [
        interactions.sync_interaction,
        escalations.escalation_rule,
        escalations.sync_escalation,
        escalations.end_escalation,
        notifications.notify,
        notifications.deliver_group,
        absences.sync_absence,
        absences.fan_out_coverage,
        checkins.send_digests,
        checkins.team_calendar,
    ]


class CaseWorker(Worker):
    """The worker of the cases' task queue, running beside it the worker of their escalations'
    queue (``domain.ids.escalation_task_queue``): the same workflows, the same activity objects
    and threads, a sticky cache of its own (``escalations``).

    At 17:00 every case due that day goes overdue at once and starts an escalation; sharing one
    cache, each new escalation pushed out a case that had yet to run its own next task, which
    then replayed its whole history in a new sandboxed instance (bench/README.md, P3). Runs and
    shuts down as one worker: ``run``, ``shutdown`` and ``async with`` cover both."""

    def __init__(self, client: Client, *, escalations: Worker, **config: Any) -> None:
        super().__init__(client, **config)
        self.escalations = escalations

    async def run(self) -> None:
        """Run both until shut down; when either fails, the other is stopped and the error raised."""
        async with asyncio.TaskGroup() as group:
            group.create_task(super().run())
            group.create_task(self.escalations.run())

    async def shutdown(self) -> None:
        await asyncio.gather(super().shutdown(), self.escalations.shutdown())


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: sessionmaker[Session],
    channel: DeliveryChannel,
    executor: ThreadPoolExecutor | None = None,
    graceful_shutdown: timedelta = timedelta(0),
    max_concurrent_activities: int = 16,
    max_concurrent_workflow_tasks: int | None = None,
    max_cached_workflows: int = MAX_CACHED_WORKFLOWS,
    max_cached_escalations: int = MAX_CACHED_ESCALATIONS,
    sandbox: bool = True,
    **notify_kwargs: object,
) -> CaseWorker:
    """The worker of ``task_queue`` and of its escalations' queue (``CaseWorker``); activities
    run in threads, as many as may run at once, shared by both queues.

    Workflows run in the SDK's sandbox with ``WORKFLOW_PASSTHROUGH_MODULES`` passed through, so a
    new or evicted workflow re-imports its own module only (docs/adr/sandbox.md).
    ``sandbox=False`` runs them without the sandbox (``worker_workflow_sandbox``): no runtime
    guard against non-deterministic calls. The tests run with the sandbox of this function and
    the replay tests under the SDK's default sandbox, so a non-deterministic change is caught
    before it ships (bench/README.md, P3 and P7).
    """
    executor = executor or ThreadPoolExecutor(max_workers=max_concurrent_activities)
    activities = activity_objects(sessions, channel, client=client, **notify_kwargs)

    def config(queue: str, cached: int) -> dict[str, Any]:
        return {
            "task_queue": queue,
            "workflows": ALL_WORKFLOWS,
            "activities": activities,
            "activity_executor": executor,
            "max_concurrent_activities": max_concurrent_activities,
            "max_concurrent_workflow_tasks": max_concurrent_workflow_tasks,
            "max_cached_workflows": cached,
            "interceptors": [ActivityLogContext()],
            "graceful_shutdown_timeout": graceful_shutdown,
            "workflow_runner": workflow_runner(sandbox, client.data_converter),
        }

    escalations = Worker(client, **config(escalation_task_queue(task_queue), max_cached_escalations))
    return CaseWorker(client, escalations=escalations, **config(task_queue, max_cached_workflows))


async def serve(
    client: Client, settings: Settings, sessions: sessionmaker[Session], stop: asyncio.Event
) -> bool:
    """Run the Temporal worker, the outbox dispatcher and the periodic reconcile
    (``workers.reconcile``) until ``stop`` is set (SIGTERM/SIGINT),
    then shut both down within a bounded time, also when the Temporal server is already gone.

    Activities still running get ``worker_shutdown_grace_seconds`` to finish; what does not
    finish is retried by Temporal on another (or the restarted) worker. Returns whether the
    Temporal worker shut down cleanly (False: it timed out or failed, e.g. the server is gone).
    """
    channel = delivery_channel(settings)
    grace = settings.worker_shutdown_grace_seconds
    worker = build_worker(
        client,
        task_queue=settings.task_queue,
        sessions=sessions,
        channel=channel,
        graceful_shutdown=timedelta(seconds=grace),
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_cached_escalations=settings.worker_max_cached_escalations,
        sandbox=settings.worker_workflow_sandbox,
    )
    dispatcher = Dispatcher(Outbox(sessions, channel))
    reconciler = Reconciler(client, settings, sessions)
    retention = Retention(settings, sessions)  # purges what is kept only for a while
    settle_heap()  # everything the worker serves with is built: out of the collector's sight
    tasks = [
        asyncio.create_task(worker.run()),
        asyncio.create_task(dispatcher.run()),
        asyncio.create_task(reconciler.run()),
        asyncio.create_task(retention.run()),
    ]
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    log.info("worker.stopping", grace_seconds=grace)
    dispatcher.stop()
    reconciler.stop()
    retention.stop()
    clean = False
    try:
        async with asyncio.timeout(grace + 10):
            await worker.shutdown()
        clean = True
    except TimeoutError:
        log.warning("worker.shutdown_timed_out", grace_seconds=grace)
    except Exception as err:  # e.g. the server is gone: nothing left to hand back
        log.warning("worker.shutdown_failed", error_type=type(err).__name__)
    stopping.cancel()
    for task in tasks:
        if not task.done():
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    log.info("worker.stopped", clean=clean)
    return clean
