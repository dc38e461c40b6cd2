"""``followthrough notify simulate``: the delivery timeline a team's notification policy gives a
list of notices, so a lead can see what will happen before changing the policy (rules §2.8)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from domain.errors import Invalid
from domain.grouping import Notice, NotificationPolicy, plan_deliveries


class NoticeEntry(Notice):
    """A notice in an events file; ``repeat: 40`` stands for 40 like it (ids ``<id>-1``…)."""

    repeat: int = Field(default=1, ge=1, le=10_000)
    # Seconds between the repeated notices.
    spread_seconds: float = Field(default=0, ge=0, le=86_400)


class EventsFile(BaseModel):
    notices: list[NoticeEntry]


def read_events(text: str) -> list[Notice]:
    try:
        data: Any = yaml.safe_load(text)
        parsed = EventsFile.model_validate(data if isinstance(data, dict) else {"notices": data})
    except (yaml.YAMLError, ValidationError) as err:
        raise Invalid(f"events file rejected: {err}") from err
    out: list[Notice] = []
    for e in parsed.notices:
        base = e.model_dump(exclude={"repeat", "spread_seconds"})
        if e.repeat == 1:
            out.append(Notice.model_validate(base))
            continue
        for i in range(e.repeat):
            at = e.at + timedelta(seconds=e.spread_seconds * i)
            out.append(Notice.model_validate({**base, "id": f"{e.id}-{i + 1}", "at": at}))
    return out


def _clock(at: datetime, start: datetime) -> str:
    return f"{at.isoformat()} (+{(at - start).total_seconds():g}s)"


def describe(policy: NotificationPolicy | None) -> str:
    if policy is None:
        return "policy: grouping off (notifications: null), every notice its own delivery"
    return (
        f"policy: group_wait {policy.group_wait_seconds}s, group_interval {policy.group_interval_minutes}m, "
        f"max {policy.max_items_per_delivery} per delivery, bypass {policy.bypass}"
    )


def simulate(policy: NotificationPolicy | None, notices: list[Notice]) -> list[str]:
    """The timeline as lines: each delivery with its recipient, size, reason and notices. No
    policy is a team that turned grouping off."""
    if not notices:
        return ["no notices"]
    start = min(n.at for n in notices)
    deliveries, inhibited = plan_deliveries(policy, notices)
    lines = [
        describe(policy),
        f"{len(notices)} notice(s) -> {len(deliveries)} delivery(ies), {len(inhibited)} inhibited",
    ]
    for d in deliveries:
        shown = ", ".join(d.notice_ids[:5]) + (
            f", … ({len(d.notice_ids)} in all)" if len(d.notice_ids) > 5 else ""
        )
        lines.append(
            f"{_clock(d.at, start)}  to {d.recipient_id}: {len(d.notice_ids)} notice(s) [{d.reason}] {shown}"
        )
    for i in inhibited:
        lines.append(
            f"inhibited: {i.notice_id} to {i.recipient_id} (a safety escalation is open for {i.member_id})"
        )
    return lines
