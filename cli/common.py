"""What every command shares: the settings (or a clear exit), the console, ``error: …`` and exit
1, running a command's async work, and who a command acts as."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from config.logging import configure_logging
from config.settings import Settings
from domain.errors import DomainError
from services.access import Principal

console = Console()
T = TypeVar("T")


def load_settings(*, production: bool = False) -> Settings:
    """The settings, or a clear exit that never echoes a secret (tokens, keys) back.

    ``production``: `api` and `worker` also refuse the published development defaults.
    """
    try:
        settings = Settings()
    except ValidationError as err:
        raise typer.Exit(code=fail("settings rejected:\n" + _describe(err))) from None
    configure_logging(settings.log_format, settings.log_level)
    if settings.codec_key:
        from workers.codec import CodecKeyError, EncryptionCodec

        try:
            EncryptionCodec.from_key(settings.codec_key)
        except CodecKeyError as err:
            raise typer.Exit(code=fail(f"codec key rejected: {err}")) from err
    if production:
        from config.production import dev_default_problems

        problems = dev_default_problems(settings)
        if problems:
            raise typer.Exit(
                code=fail(
                    "refusing to start with development defaults (only `followthrough dev` may):\n- "
                    + "\n- ".join(problems)
                )
            )
    return settings


def _describe(err: ValidationError) -> str:
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
    """Print ``error: message`` and answer the exit code (1)."""
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return 1


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's async work; a broken rule (a domain error) prints ``error: …``, exit 1."""
    try:
        return asyncio.run(work)
    except DomainError as err:
        raise typer.Exit(code=fail(err.message)) from err


def port_open(host: str, port: int) -> bool:
    """Something answers at ``host:port`` (within half a second)."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def operator(staff_id: str | None = None) -> Principal:
    """Who a command acts as: an operator with server access has the system's rights (docs/api.md
    §4.2: no bearer token, no role checked); ``--as`` names the person recorded as the actor."""
    return Principal(role="system", staff_id=staff_id)
