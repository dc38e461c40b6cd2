"""Handing notices to their recipient's grouping workflow (docs/rules.md §2.8), one signal for
many.

At 17:00 every overdue case notifies the same lead at once: a signal-with-start per notice was
a round trip through the server, a signal event in the grouping workflow's history and a workflow
task each. Here the notices that arrive for one grouping workflow while the signal before is on
its way wait for it and then go together in one ``add`` signal. Each caller still returns only
once a signal carrying its notices was accepted (or raises, and its activity is retried), so
nothing is lost; the grouping workflow ignores ids it has seen, so nothing is carried twice.

Everything here runs on the worker's event loop: no locks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.messages import GroupAdd, GroupInput

# The recipient's grouping workflow (workflows/notification_group.py) and its signal, by name:
# this module is below the workflows that run its activities, and imports none of them.
GROUP_WORKFLOW = "NotificationGroupWorkflow"
GROUP_ADD_SIGNAL = "add"


@dataclass
class _Batch:
    """Notices for one grouping workflow not handed over yet, and who waits for them."""

    group: GroupInput
    task_queue: str
    at: datetime
    ids: list[int] = field(default_factory=list)
    sent: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupSignals:
    """One worker's hand-over of notices to grouping workflows (see the module's docstring)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._waiting: dict[str, _Batch] = {}  # by workflow id: the batch the next signal carries
        self._senders: dict[str, asyncio.Task[None]] = {}  # by workflow id: signalling now

    async def add(
        self, workflow_id: str, group: GroupInput, ids: list[int], at: datetime, task_queue: str
    ) -> None:
        """Hand ``ids`` (first written ``at``) to the workflow, starting it with ``group`` if it
        does not run; returns once a signal carrying them was accepted."""
        batch = self._waiting.get(workflow_id)
        if batch is None:
            batch = self._waiting[workflow_id] = _Batch(group=group, task_queue=task_queue, at=at)
        batch.group = group  # the latest policy starts it, if a start is needed
        batch.at = min(batch.at, at)
        batch.ids.extend(ids)
        if workflow_id not in self._senders:
            self._senders[workflow_id] = asyncio.create_task(self._send_all(workflow_id))
        # A caller that gives up (its timeout) does not cancel the signal the others wait for.
        await asyncio.shield(batch.sent)

    async def _send_all(self, workflow_id: str) -> None:
        """Signal the waiting batch, then whatever gathered meanwhile, until none waits."""
        try:
            while (batch := self._waiting.pop(workflow_id, None)) is not None:
                try:
                    await self._signal_with_start(workflow_id, batch)
                except Exception as err:  # each waiter's activity fails and is retried
                    batch.sent.set_exception(err)
                    batch.sent.exception()  # retrieved here: a waiter that timed out is not told
                else:
                    batch.sent.set_result(None)
        finally:
            del self._senders[workflow_id]

    async def _signal_with_start(self, workflow_id: str, batch: _Batch) -> None:
        add = GroupAdd(notification_ids=batch.ids, at=batch.at)
        group = batch.group
        for _ in range(3):
            try:
                await self._client.start_workflow(
                    GROUP_WORKFLOW,
                    group,
                    id=workflow_id,
                    task_queue=batch.task_queue,
                    start_signal=GROUP_ADD_SIGNAL,
                    start_signal_args=[add],
                    static_summary=f"notices to {group.recipient_id} of team {group.team_id}, grouped",
                )
                return
            except WorkflowAlreadyStartedError:
                # Many notices to one recipient at once: a server may answer one of the
                # concurrent signal-with-starts "already started". Signal the running one.
                handle = self._client.get_workflow_handle(workflow_id)
                try:
                    await handle.signal(GROUP_ADD_SIGNAL, add)
                    return
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
                    # It ended meanwhile (idle): start it again.
        raise RuntimeError(f"could not hand notices to {workflow_id}")
