"""Starting a process of Followthrough: its settings (or a clear exit), and the worker's run.

``followthrough worker`` (cli/main.py) and ``python -m workers`` run the worker with these;
every command of the command line loads its settings with ``load_settings``. The worker's
modules (every workflow and activity), its client and the codec are imported where they are
used, not with this module, so the command line's other commands start without them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import structlog
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from config.logging import configure_logging
from config.production import dev_default_problems
from config.settings import Settings

if TYPE_CHECKING:
    from temporalio.runtime import Runtime

console = Console()
# The name the worker's start and exit lines have always carried.
log = structlog.get_logger("followthrough.cli")


def load_settings(*, production: bool = False) -> Settings:
    """The settings, or a clear exit that never echoes a secret (tokens, keys) back.

    ``production``: `api` and `worker` also refuse the published development defaults.
    """
    try:
        settings = Settings()
    except ValidationError as err:
        raise typer.Exit(code=fail("settings rejected:\n" + describe_settings_error(err))) from None
    configure_logging(settings.log_format, settings.log_level)
    if settings.codec_key:
        from workers.codec import CodecKeyError, EncryptionCodec

        try:
            EncryptionCodec.from_key(settings.codec_key)
        except CodecKeyError as err:
            raise typer.Exit(code=fail(f"codec key rejected: {err}")) from err
    if production:
        problems = dev_default_problems(settings)
        if problems:
            raise typer.Exit(
                code=fail(
                    "refusing to start with development defaults (only `followthrough dev` may):\n- "
                    + "\n- ".join(problems)
                )
            )
    return settings


def describe_settings_error(err: Any) -> str:
    """A settings error without input values; a token (a key of FOLLOWTHROUGH_TOKENS) shows as <token>."""
    lines = []
    for e in err.errors(include_input=False, include_url=False):
        loc = list(e["loc"])
        if loc[:1] == ["tokens"] and len(loc) > 1:
            loc[1] = "<token>"
        where = ".".join(str(p) for p in loc) or "settings"
        lines.append(f"  FOLLOWTHROUGH_{where.split('.')[0].upper()} ({where}): {e['msg']}")
    return "\n".join(lines)


def fail(message: str) -> int:
    """Print ``error: message``; the exit code to leave with."""
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return 1


def metrics_runtime_or_exit(settings: Settings) -> Runtime | None:
    """The worker's Temporal runtime with its Prometheus endpoint, or a clear exit."""
    from workers.client import metrics_runtime

    try:
        return metrics_runtime(settings)
    except ValueError as err:
        raise typer.Exit(
            code=fail(
                f"cannot serve worker metrics on {settings.worker_metrics_address!r} ({err}); "
                "set FOLLOWTHROUGH_WORKER_METRICS_ADDRESS to a free IP:port, or to empty to turn them off"
            )
        ) from err


def stop_on_signals() -> asyncio.Event:
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


async def run_worker(settings: Settings) -> None:
    from store.db import make_engine, make_sessionmaker
    from workers.client import connect, ensure_search_attributes
    from workers.main import serve

    stop = stop_on_signals()
    client = await connect(settings, runtime=metrics_runtime_or_exit(settings))
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


def main() -> None:
    """``python -m workers``: the worker as ``followthrough worker`` runs it (settings checked
    as for production), exiting with the code of a refusal."""
    try:
        settings = load_settings(production=True)
        asyncio.run(run_worker(settings))
    except typer.Exit as refused:
        raise SystemExit(refused.exit_code) from None
