"""What every service shares: the clock, status filters and running workflow updates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import Conflict, DomainError, Invalid, from_type

R = TypeVar("R")


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_statuses(status: str | None, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
    """A comma-separated ``status`` filter (``default`` when absent); an unknown one is invalid."""
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else list(default)
    unknown = [s for s in statuses if s not in allowed]
    if unknown:
        raise Invalid(f"unknown status {unknown[0]!r}; expected one of {', '.join(allowed)}")
    return statuses


def from_update_failure(err: WorkflowUpdateFailedError) -> DomainError:
    """A validator's rejection comes back as an ``ApplicationError`` typed by a domain error class."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return from_type(cause.type, cause.message)
    return Conflict(str(cause or err))


async def run_update(
    client: Client,
    workflow_id: str,
    update: str,
    arg: BaseModel,
    *,
    result_type: type[R],
    closed: str,
    update_id: str | None = None,
) -> R:
    """Run a workflow update; a rejection becomes its domain error, a closed workflow a Conflict.

    ``closed`` is the message for a workflow that has already ended (e.g. "interaction x is closed").
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        result: R = await handle.execute_update(
            update, arg, id=update_id or f"{update}-{uuid.uuid4().hex}", result_type=result_type
        )
    except WorkflowUpdateFailedError as err:
        raise from_update_failure(err) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"{closed}: {err.message}") from err
        raise
    return result
