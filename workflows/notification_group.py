"""NotificationGroupWorkflow: one per recipient and team, grouping notices into deliveries
(docs/rules.md §2.8).

Started or signalled by the ``notify`` activity (signal-with-start), so it exists only while a
recipient has notices to group. It holds outbox row ids only. A delivery is an activity keyed by
a delivery id drawn from the workflow's deterministic random: a worker restart replays the same
id, the ``deliver_group`` activity inserts it once, and a notice already carried by a delivery
is never carried again, so nothing is lost or sent twice. It ends after
``repeat_interval_minutes`` without notices, and continues as new when its history grows.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.common import NOTIFY_OPTIONS

with workflow.unsafe.imports_passed_through():
    from activities.group_signals import GROUP_ADD_SIGNAL, GROUP_WORKFLOW
    from activities.notifications import NotificationActivities
    from domain.grouping import NotificationPolicy, flush_at
    from domain.messages import DeliveryRequest, GroupAdd, GroupInput

HISTORY_LIMIT = 2000


@workflow.defn(name=GROUP_WORKFLOW)
class NotificationGroupWorkflow:
    @workflow.init
    def __init__(self, inp: GroupInput) -> None:
        self._inp = inp
        self._pending: list[int] = list(inp.pending)
        self._seen: set[int] = set(inp.pending)
        self._first = inp.first_pending_at
        self._last = inp.last_delivery_at

    @workflow.signal(name=GROUP_ADD_SIGNAL)
    def add(self, msg: GroupAdd) -> None:
        new = [i for i in msg.notification_ids if i not in self._seen]
        if not new:
            return
        self._seen.update(new)
        if not self._pending:
            self._first = msg.at
        self._pending.extend(new)

    @workflow.run
    async def run(self, inp: GroupInput) -> None:
        policy = NotificationPolicy(
            group_wait_seconds=inp.group_wait_seconds,
            group_interval_minutes=inp.group_interval_minutes,
            repeat_interval_minutes=inp.repeat_interval_minutes,
            max_items_per_delivery=inp.max_items_per_delivery,
        )
        idle = timedelta(minutes=inp.repeat_interval_minutes)
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._pending), timeout=idle)
            except TimeoutError:
                if not self._pending:
                    return  # idle: a new notice starts the workflow again
            assert self._first is not None
            when, reason = flush_at(policy, self._first, self._last)
            wait = when - workflow.now()
            if wait > timedelta(0):
                await workflow.sleep(
                    wait,
                    summary=f"{reason} for {inp.recipient_id}: {len(self._pending)} notice(s) so far",
                )
            # Everything pending now goes, in deliveries of at most the maximum each.
            batch, self._pending, self._first = self._pending, [], None
            size = inp.max_items_per_delivery
            for i in range(0, len(batch), size):
                chunk = batch[i : i + size]
                await workflow.execute_activity_method(
                    NotificationActivities.deliver_group,
                    DeliveryRequest(
                        delivery_id=f"dlv_{workflow.uuid4().hex}",
                        team_id=inp.team_id,
                        recipient_id=inp.recipient_id,
                        notification_ids=chunk,
                    ),
                    summary=f"deliver {len(chunk)} notice(s) to {inp.recipient_id}",
                    **NOTIFY_OPTIONS,
                )
            self._last = workflow.now()
            if workflow.info().get_current_history_length() > HISTORY_LIMIT and not self._pending:
                workflow.continue_as_new(
                    inp.model_copy(
                        update={"pending": [], "first_pending_at": None, "last_delivery_at": self._last}
                    )
                )
