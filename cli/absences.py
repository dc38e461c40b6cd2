"""`followthrough absence add|extend|cancel|list`: plan coverage when staff are out of office,
through the same services as the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from cli import assembly
from cli.common import console, fail, load_settings, operator, run
from domain.messages import ABSENCE_STATUSES
from services.absences import Absences
from services.operations import Operation
from services.public import AbsenceCreate, AbsencePublic, AbsenceUpdate

app = typer.Typer(help="Plan coverage when staff are out of office.", no_args_is_help=True)


def _aware(value: str, name: str) -> datetime:
    """An ISO 8601 time with an offset; a naive one is refused, as in the API."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise typer.BadParameter(f"{name}: not an ISO 8601 time: {value!r}") from err
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"{name}: give an offset, e.g. 2026-11-16T09:00:00-06:00")
    return parsed


def _print(rows: Sequence[AbsencePublic], *, title: str) -> None:
    table = Table(title=title)
    for col in ("id", "staff", "backup", "starts_at", "ends_at", "status"):
        table.add_column(col)
    colour = {"scheduled": "cyan", "active": "green", "ended": "dim", "cancelled": "dim"}
    for r in rows:
        table.add_row(
            r.id,
            r.staff_id,
            r.backup_id or "[yellow]unassigned queue[/]",
            r.starts_at.isoformat(),
            r.ends_at.isoformat(),
            f"[{colour.get(r.status, 'white')}]{r.status}[/]",
        )
    console.print(table)


@app.command("add")
def absence_add(
    staff: Annotated[str, typer.Argument(help="the absent staff member's id")],
    starts: Annotated[str, typer.Option("--from", help="ISO 8601 with offset")],
    ends: Annotated[str, typer.Option("--to", help="ISO 8601 with offset")],
    backup: Annotated[str | None, typer.Option(help="backup staff id; none = the unassigned queue")] = None,
    reason: Annotated[str | None, typer.Option(help="free text, kept in SQL only")] = None,
    actor: Annotated[str | None, typer.Option("--as", help="who plans it (staff id)")] = None,
) -> None:
    """Plan an absence: open cases move to the backup at its start and come back at its end."""
    settings = load_settings()
    by = operator(actor)
    fields = {
        "staff_id": staff,
        "backup_id": backup,
        "starts_at": _aware(starts, "--from"),
        "ends_at": _aware(ends, "--to"),
        "reason": reason,
    }
    try:
        body = AbsenceCreate.model_validate(fields)
    except ValueError as err:
        raise typer.Exit(code=fail(str(err))) from err

    async def act() -> AbsencePublic:
        absences = Absences(assembly.context(settings))
        return (await absences.create(by, body, Operation())).value

    _print([run(act())], title="absence add")


@app.command("extend")
def absence_extend(
    absence_id: str,
    ends: Annotated[str, typer.Option("--to", help="the new end, ISO 8601 with offset (earlier shortens)")],
    actor: Annotated[str | None, typer.Option("--as", help="who changes it (staff id)")] = None,
) -> None:
    """Move an absence's end (extend or shorten) while it is scheduled or active."""
    settings = load_settings()
    by = operator(actor)
    try:
        change = AbsenceUpdate.model_validate({"ends_at": _aware(ends, "--to")})
    except ValueError as err:
        raise typer.Exit(code=fail(str(err))) from err

    async def act() -> AbsencePublic:
        absences = Absences(assembly.context(settings))
        return (await absences.change_end(by, absence_id, change, Operation())).value

    _print([run(act())], title="absence extend")


@app.command("cancel")
def absence_cancel(
    absence_id: str,
    actor: Annotated[str | None, typer.Option("--as", help="who cancels it (staff id)")] = None,
) -> None:
    """Call an absence off; an active one hands its cases back at once."""
    settings = load_settings()
    by = operator(actor)

    async def act() -> AbsencePublic:
        absences = Absences(assembly.context(settings))
        return (await absences.cancel(by, absence_id, Operation())).value

    _print([run(act())], title="absence cancel")


@app.command("list")
def absence_list(
    team: Annotated[str | None, typer.Option(help="team id")] = None,
    staff: Annotated[str | None, typer.Option(help="staff id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="also ended and cancelled")] = False,
    limit: int = 100,
) -> None:
    """Show scheduled and active absences (with --all, past ones too)."""
    settings = load_settings()
    status = ",".join(ABSENCE_STATUSES) if all_ else None  # None: scheduled and active

    async def read() -> list[AbsencePublic]:
        absences = Absences(assembly.context(settings))
        found = await absences.page(operator(), team_id=team, staff_id=staff, status=status, limit=limit)
        return found.items

    _print(run(read()), title="Absences" + (f" of {team}" if team else ""))
