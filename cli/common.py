"""What every command shares: the settings (or a clear exit), the console, ``error: …`` and exit
1, running a command's async work, and who a command acts as."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from domain.errors import DomainError
from services.access import Principal
from workers.startup import fail, load_settings

__all__ = ["console", "fail", "load_settings", "operator", "port_open", "run"]

console = Console()
T = TypeVar("T")


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
