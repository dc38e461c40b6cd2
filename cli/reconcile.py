"""`followthrough reconcile`: make the read model (SQL) true to Temporal again, from a scheduler or
by hand (the worker runs the same under a lease every ``RECONCILE_INTERVAL_SECONDS``)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cli import assembly
from cli.common import fail, load_settings, run
from config.settings import Settings
from domain.errors import Unavailable
from services import reconcile as service

# How long `reconcile` waits for a run another process (a worker) is making to finish.
RECONCILE_LEASE_WAIT_SECONDS = 60.0


def reconcile(
    team: Annotated[str | None, typer.Option(help="only this team's cases and notices")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what differs; repair nothing")] = False,
) -> None:
    """Make the read model (SQL) true to Temporal again, and sweep leftovers.

    Prints one line per difference (its kind and ids, never member data) and a summary. Exits 0
    when it repaired everything it found, or found nothing; 1 if Temporal or the database could
    not be reached, or a repair failed.
    """
    settings = load_settings()
    # The report goes to stdout; the service's log lines of the same differences would repeat it
    # on stderr (warnings, e.g. a failed repair, still show; FOLLOWTHROUGH_LOG_LEVEL=DEBUG: all).
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("services.reconcile").setLevel(logging.WARNING)
    report = run(_reconcile(settings, team, dry_run))
    if report is None:
        raise typer.Exit(
            code=fail("another reconcile is running (a worker holds its lease); try again later")
        )
    for line in service.lines(report):
        typer.echo(line)
    if report.failed:
        raise typer.Exit(code=1)


async def _reconcile(settings: Settings, team: str | None, dry_run: bool) -> service.Report | None:
    ctx = assembly.context(settings)
    try:
        client = await ctx.client()
    except Unavailable as err:
        cause = err.__cause__ or err
        raise typer.Exit(
            code=fail(f"Temporal at {settings.temporal_address} is not reachable ({cause})")
        ) from err
    try:
        if dry_run:
            return await service.reconcile(ctx.db, client, settings, team_id=team, dry_run=True)
        return await service.reconcile_leased(
            ctx.db, client, settings, scheduled=False, team_id=team, wait_seconds=RECONCILE_LEASE_WAIT_SECONDS
        )
    except ValueError as err:  # e.g. a team id the service refuses
        raise typer.Exit(code=fail(str(err))) from err
