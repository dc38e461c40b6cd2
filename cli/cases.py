"""The lead/ops case commands: `queue`, `escalations`, `report` and `assign`, each one service call
on the CLI's context (``cli.assembly``), presented as a table or one line of JSON."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from cli import assembly
from cli.common import console, load_settings, operator, run
from services import reports
from services.escalations import Escalations
from services.interactions import Interactions
from services.public import EscalationPublic, InteractionPublic, Page
from services.schemas import SlaReport


def queue(
    team: Annotated[str, typer.Option(help="team id")] = "eastside",
    assignee: Annotated[str | None, typer.Option(help="staff id, or 'unassigned'")] = None,
    overdue: Annotated[bool | None, typer.Option(help="only overdue (or only not overdue)")] = None,
    limit: int = 50,
) -> None:
    """Show the team's open queue, ordered by deadline."""
    settings = load_settings()

    async def read() -> Page[InteractionPublic]:
        cases = Interactions(assembly.context(settings))
        return await cases.page(operator(), team_id=team, assignee_id=assignee, overdue=overdue, limit=limit)

    table = Table(title=f"Queue of {team}")
    for col in ("id", "channel", "status", "assignee", "source", "due_at", "attempts", "triggers"):
        table.add_column(col)
    for r in run(read()).items:
        table.add_row(
            r.id,
            r.channel,
            r.status,
            r.assignee_id or "[yellow]unassigned[/]",
            r.assignment_source,
            r.due_at.isoformat(),
            str(len(r.attempts)),
            ",".join(r.triggers),
        )
    console.print(table)


def escalations(
    team: Annotated[str | None, typer.Option(help="team id (default: every team)")] = None,
    status: Annotated[str, typer.Option(help="comma-separated statuses")] = "open,acknowledged",
    trigger: Annotated[str | None, typer.Option(help="only this trigger")] = None,
    limit: int = 50,
) -> None:
    """Show escalations, most severe first, then oldest."""
    settings = load_settings()

    async def read() -> Page[EscalationPublic]:
        ctx = assembly.context(settings)
        return await Escalations(ctx).page(
            operator(), team_id=team, status=status, trigger=trigger, limit=limit
        )

    table = Table(title="Escalations" + (f" of {team}" if team else ""))
    for col in ("id", "trigger", "status", "level", "clock", "owner", "started_at", "interaction"):
        table.add_column(col)
    colour = {"open": "red", "acknowledged": "yellow", "resolved": "green"}
    for e in run(read()).items:
        table.add_row(
            e.id,
            e.trigger,
            f"[{colour.get(e.status, 'white')}]{e.status}[/]",
            f"{e.level}/{e.levels}",
            e.clock,
            e.owner_id or "-",
            e.started_at.isoformat(),
            e.interaction_id,
        )
    console.print(table)


def report(
    team: Annotated[str, typer.Option(help="team id")] = "eastside",
    days: Annotated[int, typer.Option(help="interactions received in the last N days")] = 30,
) -> None:
    """The SLA report of a team (same figures as GET /v1/reports/sla)."""
    settings = load_settings()
    end = datetime.now(UTC)

    async def read() -> SlaReport:
        ctx = assembly.context(settings)
        return await ctx.db.read(reports.sla_report, team, end - timedelta(days=days), end)

    sla = run(read())

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    table = Table(title=f"SLA of {team}, last {days} days")
    columns = ("channel", "received", "on time", "late", "open overdue", "median 1st resp (biz min)", "FCR")
    for col in (*columns, "repeat contacts"):
        table.add_column(col, justify="right" if col != "channel" else "left")
    for channel, c in sla.channels.items():
        median = c.median_first_response_business_minutes
        table.add_row(
            channel,
            str(c.received),
            str(c.answered_on_time),
            str(c.answered_late),
            f"[red]{c.open_overdue}[/]" if c.open_overdue else "0",
            "-" if median is None else f"{median:.0f}",
            pct(c.first_contact_resolution_rate),
            str(c.repeat_contacts),
        )
    console.print(table)
    triggers = ", ".join(f"{t}: {n}" for t, n in sorted(sla.escalations_by_trigger.items())) or "none"
    console.print(f"escalations by trigger: {triggers}")
    console.print(f"unreachable rate: {pct(sla.unreachable_rate)}")


def assign(
    interaction_id: str,
    assignee: Annotated[str, typer.Argument(help="staff id, or 'unassigned'")],
    actor: Annotated[str | None, typer.Option("--as", help="the lead's staff id")] = None,
) -> None:
    """Reassign an interaction (as a lead) through its workflow's `assign` update."""
    settings = load_settings()
    by = operator(actor)

    async def act() -> dict[str, str | None]:
        # As an operator (no lead rights checked, docs/api.md §4.2): `reassign`, the command a
        # lead's `assign` runs once its access check has passed, recorded as done by `--as`.
        cases = Interactions(assembly.context(settings))
        row = await cases.require(interaction_id)
        row = await cases.reassign(
            row,
            assignee_id=None if assignee == "unassigned" else assignee,
            reason="",
            actor_id=by.actor_id,
            key=uuid.uuid4().hex,
        )
        return {"id": interaction_id, "assignee_id": row.assignee_id, "status": row.status}

    # Plain output, one line: machine-readable JSON is not wrapped at the terminal's width.
    typer.echo(json.dumps(run(act())))
