"""``followthrough``, the command line: the typer app, assembled from the process commands
(``cli.processes``: dev, worker, api, migrate) and the lead/ops commands, which call the
services on the CLI's context (``cli.assembly``) and only parse and present."""

from __future__ import annotations

import os

import typer

from cli import absences, cases, common, processes, reconcile, teams, tokens

app = typer.Typer(
    help="Followthrough: durable follow-up and escalation for CHW call centers.", no_args_is_help=True
)
app.command()(processes.migrate)
app.command("load-config")(teams.load_config)
app.command()(processes.worker)
app.command()(processes.api)
app.command()(processes.dev)
app.command()(cases.queue)
app.command()(cases.escalations)
app.command()(cases.report)
app.command()(cases.assign)
app.command()(reconcile.reconcile)
app.add_typer(teams.notify_app, name="notify")
app.add_typer(absences.app, name="absence")
app.add_typer(tokens.app, name="token")


def main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except SystemExit as done:
        common.end_command(done)
