"""Notification grouping and inhibition (docs/rules.md §2.8): which notices go out together, when.

Pure: no clock, no I/O. ``plan_deliveries`` turns a list of notices (time, recipient, kind,
trigger, member) into the deliveries a team's ``notifications`` policy produces. It is what
``followthrough notify simulate`` prints, and the rule a per-recipient grouping workflow follows.

A team without a ``notifications`` block gets the defaults of ``NotificationPolicy``; an
explicit ``notifications: null`` turns grouping off (``stored_policy`` reads either from a stored
configuration, and ``plan_deliveries`` with no policy sends every notice alone, at once).

Per recipient:

- a notice whose trigger (or kind) is in ``bypass`` goes out at once, alone;
- otherwise it joins the recipient's pending group. A group that starts while the recipient
  has had no delivery for ``group_interval`` is sent ``group_wait`` after its first notice; one
  that starts sooner waits until ``group_interval`` after the previous delivery;
- a delivery lists at most ``max_items_per_delivery`` notices; the rest follow at once in
  further deliveries;
- while a safety escalation is open for a member, ``deadline_missed`` and ``unreachable``
  notices about that member are recorded but not delivered (inhibited).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

INHIBITED_TRIGGERS = frozenset({"deadline_missed", "unreachable"})


# The recipient of ``task_updated`` notices: the FHIR subscribers of the team (a plan, a clinic),
# not a staff member (a staff id never has a colon).
TASK_SUBSCRIBER = "fhir:tasks"


class NotificationPolicy(BaseModel):
    """A team's ``notifications`` block; the defaults are the policy of a team that has none."""

    model_config = ConfigDict(extra="forbid")

    group_wait_seconds: int = Field(default=30, ge=0, le=3600)
    group_interval_minutes: int = Field(default=5, ge=0, le=24 * 60)
    # How long a recipient's grouping workflow stays after its last delivery, waiting for more,
    # before it ends (a new notice starts it again).
    repeat_interval_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    max_items_per_delivery: int = Field(default=50, ge=1, le=1000)
    bypass: list[str] = Field(default_factory=lambda: ["safety"])
    # Issue 22: a ``task_updated`` notice (ids only) to ``TASK_SUBSCRIBER`` each time a case's
    # read model changes, so a health plan follows its Tasks without polling /fhir/r4.
    task_updated: bool = False


class Notice(BaseModel):
    """One notice as grouping sees it: ids and kinds only."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=400)
    at: AwareDatetime
    recipient_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=32)
    trigger: str | None = Field(default=None, max_length=32)
    member_id: str | None = Field(default=None, max_length=64)
    # For an escalation notice: whether it opens or closes that escalation (safety inhibits).
    escalation: Literal["opened", "resolved"] | None = None


class Delivery(BaseModel):
    recipient_id: str
    at: AwareDatetime
    notice_ids: list[str]
    reason: Literal["bypass", "group_wait", "group_interval", "overflow", "ungrouped"]


class Inhibited(BaseModel):
    notice_id: str
    recipient_id: str
    member_id: str


def stored_policy(config: Mapping[str, Any]) -> NotificationPolicy | None:
    """The policy of a stored team configuration: the defaults when it has no ``notifications``
    key (a team saved without the block, or stored before grouping was the default), None
    (grouping off) for an explicit ``null``."""
    if "notifications" not in config:
        return NotificationPolicy()
    raw = config["notifications"]
    return None if raw is None else NotificationPolicy.model_validate(raw)


def is_bypass(policy: NotificationPolicy, kind: str, trigger: str | None) -> bool:
    return (trigger is not None and trigger in policy.bypass) or kind in policy.bypass


def is_inhibited(trigger: str | None, member_id: str | None, open_safety: set[str]) -> bool:
    return trigger in INHIBITED_TRIGGERS and member_id is not None and member_id in open_safety


def flush_at(
    policy: NotificationPolicy, first_pending: datetime, last_delivery: datetime | None
) -> tuple[datetime, Literal["group_wait", "group_interval"]]:
    """When a group whose first notice came at ``first_pending`` is sent."""
    interval = timedelta(minutes=policy.group_interval_minutes)
    if last_delivery is None or first_pending >= last_delivery + interval:
        return first_pending + timedelta(seconds=policy.group_wait_seconds), "group_wait"
    return last_delivery + interval, "group_interval"


def plan_deliveries(
    policy: NotificationPolicy | None, notices: list[Notice]
) -> tuple[list[Delivery], list[Inhibited]]:
    """Every delivery (in time order) and every inhibited notice the policy gives. Without a
    policy (grouping off) each notice that is not inhibited goes out at once, alone."""
    deliveries: list[Delivery] = []
    inhibited: list[Inhibited] = []
    pending: dict[str, list[Notice]] = {}
    last: dict[str, datetime] = {}
    open_safety: set[str] = set()

    def flush_due(until: datetime | None) -> None:
        if policy is None:
            return  # nothing is ever pending without a policy
        while True:
            due = [(flush_at(policy, items[0].at, last.get(r)), r) for r, items in pending.items() if items]
            due = [d for d in due if until is None or d[0][0] <= until]
            if not due:
                return
            (when, reason), recipient = min(due, key=lambda d: (d[0][0], d[1]))
            items = pending.pop(recipient)
            size = policy.max_items_per_delivery
            for i in range(0, len(items), size):
                chunk = items[i : i + size]
                deliveries.append(
                    Delivery(
                        recipient_id=recipient,
                        at=when,
                        notice_ids=[n.id for n in chunk],
                        reason=reason if i == 0 else "overflow",
                    )
                )
            last[recipient] = when

    for notice in sorted(notices, key=lambda n: n.at):
        flush_due(notice.at)
        if notice.trigger == "safety" and notice.member_id is not None:
            if notice.escalation == "resolved":
                open_safety.discard(notice.member_id)
            else:
                open_safety.add(notice.member_id)
        if notice.escalation == "resolved":
            continue
        if is_inhibited(notice.trigger, notice.member_id, open_safety):
            assert notice.member_id is not None
            inhibited.append(
                Inhibited(notice_id=notice.id, recipient_id=notice.recipient_id, member_id=notice.member_id)
            )
            continue
        if policy is None or is_bypass(policy, notice.kind, notice.trigger):
            reason: Literal["bypass", "ungrouped"] = "ungrouped" if policy is None else "bypass"
            deliveries.append(
                Delivery(
                    recipient_id=notice.recipient_id, at=notice.at, notice_ids=[notice.id], reason=reason
                )
            )
            continue
        pending.setdefault(notice.recipient_id, []).append(notice)
    flush_due(None)
    deliveries.sort(key=lambda d: (d.at, d.recipient_id))
    return deliveries, inhibited
