"""Team configuration from the command line: `load-config` (a team file into the database, and
the team's check-ins onto its calendar) and `notify simulate` (what a notification policy would
deliver)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import assembly
from cli.common import console, fail, load_settings, port_open, run
from config.settings import Settings
from domain.errors import DomainError, Invalid
from domain.grouping import NotificationPolicy
from domain.models import TeamConfig
from services.checkins import refresh_checkins
from services.notify_simulate import read_events, simulate
from services.teams import load_team_file, read_team_file, require_team, team_config


def load_config(file: Path) -> None:
    """Load a team file (team config, staff, caseloads) into the database."""
    settings = load_settings()
    tf = read_team_file(file)
    load_team_file(assembly.sessions(settings), tf)
    console.print(f"[green]loaded[/] team {tf.team_id}: {len(tf.staff)} staff, {len(tf.members)} members")
    # Like PUT /v1/teams: the team's check-ins follow the calendar just loaded.
    host, _, port = settings.temporal_address.rpartition(":")
    if not port.isdigit() or not port_open(host or "localhost", int(port)):
        console.print(
            f"[yellow]Temporal at {settings.temporal_address} does not answer:[/] check-ins start or "
            "follow the new calendar when the team is next PUT or loaded with Temporal up"
        )
        return
    run(_refresh_checkins(settings, tf.team_id, tf.config))
    console.print(f"check-ins of {tf.team_id} follow the loaded calendar")


async def _refresh_checkins(settings: Settings, team_id: str, config: TeamConfig) -> None:
    # load-config may run before any worker did: the connection registers the search attributes.
    ctx = assembly.context(settings, register_search_attributes=True)
    try:
        await refresh_checkins(await ctx.client(), settings, team_id, config)
    except DomainError as err:
        raise typer.Exit(code=fail(f"the team is loaded, but its check-ins are not: {err.message}")) from None


notify_app = typer.Typer(help="Notification grouping (docs/rules.md §2.8).", no_args_is_help=True)


@notify_app.command("simulate")
def notify_simulate(
    team: Annotated[str, typer.Option(help="team id (its stored policy), or a team YAML file")],
    file: Annotated[Path, typer.Option(help="events YAML: a list of notices")],
) -> None:
    """Print the deliveries the team's notification policy would make of the notices in FILE."""
    try:
        notices = read_events(file.read_text())
    except OSError as err:
        raise typer.Exit(code=fail(f"cannot read {file}: {err.strerror}")) from err
    except Invalid as err:
        raise typer.Exit(code=fail(err.message)) from err
    if Path(team).is_file():
        policy = read_team_file(Path(team)).config.notifications
    else:
        policy = run(_stored_policy(load_settings(), team))
    for line in simulate(policy, notices):
        typer.echo(line)


async def _stored_policy(settings: Settings, team_id: str) -> NotificationPolicy | None:
    """The team's stored notification policy (unknown team: ``error: unknown team 'x'``, exit 1)."""
    ctx = assembly.context(settings)
    team = await ctx.db.run(require_team, team_id)
    return team_config(team).notifications
