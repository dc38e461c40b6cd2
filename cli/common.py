"""What every command shares: the settings (or a clear exit), the console, ``error: …`` and exit
1, running a command's async work, and who a command acts as."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from domain.errors import DomainError
from services.access import Principal
from workers.startup import fail, load_settings

__all__ = ["console", "end_command", "fail", "load_settings", "operator", "port_open", "run"]

console = Console()
T = TypeVar("T")
# Set once a command ran async work (``run``): it may have made a Temporal client.
_ran_async = False


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's async work; a broken rule (a domain error) prints ``error: …``, exit 1."""
    global _ran_async
    _ran_async = True
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


def end_command(done: SystemExit) -> None:
    """Exit with the command's code. A command that ran async work ends without the interpreter's
    teardown: the Temporal client's native threads can outlive its event loop and then abort the
    finalizing interpreter (``Fatal Python error: PyGILState_Release``, exit -6 after the work was
    done: temporalio/sdk-python#300). Output and logs are flushed first. Any other command (and a
    long-running process: the worker, the API) exits as usual."""
    if not _ran_async:
        raise done
    code = done.code
    if isinstance(code, str):  # sys.exit("message"): printed, exit 1, as the interpreter would
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
