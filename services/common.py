"""What every service shares: the clock, status filters and running workflow updates."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel
from sqlalchemy.orm import Session
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import Conflict, DomainError, Invalid, Unavailable, from_type
from services.db import Database
from services.faults import crash_point
from store import idempotency as idem, repositories as repo

log = structlog.get_logger(__name__)

R = TypeVar("R")
T = TypeVar("T")

RETRY_AFTER_SECONDS = 5
# Temporal answered, and the call was not carried out: safe to undo what led up to it.
_REFUSED = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.PERMISSION_DENIED}


class StartRefused(Unavailable):
    """Temporal could not be reached to start a workflow: it was certainly not started."""


def operation_id(kind: str, key: str) -> str:
    """An id derived from an action's key, so a repeat of the action names the same thing."""
    return hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:32]


async def with_deadline(call: Awaitable[T], *, seconds: float, what: str) -> T:
    """Await a Temporal call for at most ``seconds``; an outage becomes ``Unavailable``.

    ``StartRefused`` when Temporal was not reachable at all (nothing happened); plain
    ``Unavailable`` when the outcome is unknown (it may still happen: repeat with the same key).
    """
    try:
        async with asyncio.timeout(seconds):
            return await call
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        log.warning("temporal.deadline", what=what, seconds=seconds)
        raise Unavailable(
            f"Temporal did not complete {what} within {seconds:g} s (is the worker running?); it may "
            "still be applied: repeat the request with the same Idempotency-Key to get its answer",
            retry_after=RETRY_AFTER_SECONDS,
        ) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise
        if workflow_not_ready(err):
            log.warning("temporal.workflow_not_ready", what=what)
            raise Unavailable(
                f"the workflow could not take {what} just now (its workflow task failed; nothing was "
                "applied); try again shortly",
                retry_after=RETRY_AFTER_SECONDS,
            ) from err
        log.warning("temporal.unavailable", what=what, status=err.status.name if err.status else None)
        cls = StartRefused if err.status in _REFUSED else Unavailable
        raise cls(
            f"Temporal is not reachable for {what}; try again shortly", retry_after=RETRY_AFTER_SECONDS
        ) from err


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_statuses(status: str | None, allowed: Sequence[str], default: Sequence[str]) -> list[str]:
    """A comma-separated ``status`` filter (``default`` when absent); an unknown one is invalid."""
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else list(default)
    unknown = [s for s in statuses if s not in allowed]
    if unknown:
        raise Invalid(f"unknown status {unknown[0]!r}; expected one of {', '.join(allowed)}")
    return statuses


# Pauses before sending an update again that a failed workflow task lost (see ``run_update``).
NOT_READY_PAUSES = (0.1, 0.3, 1.0)


def workflow_not_ready(err: RPCError) -> bool:
    """The server lost an update because the workflow task carrying it failed (it was not applied)."""
    return any(d.type_url.endswith(".WorkflowNotReadyFailure") for d in err.grpc_status.details)


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
    seconds: float = 20.0,
) -> R:
    """Run a workflow update within ``seconds``; a rejection becomes its domain error, a
    closed workflow a Conflict, an outage or a missing worker ``Unavailable`` (503).

    ``update_id`` (derived from the request's Idempotency-Key) makes a repeat attach to the same
    update instead of applying it twice. ``closed`` is the message for a workflow that has ended.
    """
    handle = client.get_workflow_handle(workflow_id)
    the_id = update_id or f"{update}-{uuid.uuid4().hex}"

    async def call() -> R:
        # A workflow task that failed while it carried the update (the server refused to let the
        # run end because another event arrived at that instant) lost the update, not applied it:
        # send it again under the same id, a few times, within the same deadline.
        for pause in (*NOT_READY_PAUSES, None):
            try:
                answer: R = await handle.execute_update(
                    update, arg, id=the_id, result_type=result_type, rpc_timeout=timedelta(seconds=seconds)
                )
                return answer
            except RPCError as err:
                if pause is None or not workflow_not_ready(err):
                    raise
                log.info("temporal.update_not_ready", update=update, retry_in=pause)
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    try:
        result: R = await with_deadline(call(), seconds=seconds, what=f"the {update} action")
    except WorkflowUpdateFailedError as err:
        raise from_update_failure(err) from err
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"{closed}: {err.message}") from err
        raise
    return result


async def describe_run(
    client: Client, workflow_id: str, *, seconds: float, what: str
) -> WorkflowExecutionDescription | None:
    """The workflow's description, or ``None`` when Temporal does not have it (never started, or
    removed by retention): the one place that reads NOT_FOUND as "gone"."""
    try:
        return await with_deadline(
            client.get_workflow_handle(workflow_id).describe(rpc_timeout=timedelta(seconds=seconds)),
            seconds=seconds,
            what=what,
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def with_text(
    db: Database,
    text_key: str,
    text: str | None,
    action: Callable[[], Awaitable[object]],
    *,
    author_id: str | None = None,
) -> None:
    """Run ``action()`` (an update) with member ``text`` stored durably under ``text_key`` first.

    A refused update leaves no text behind; an update that may have been applied (a timeout,
    a crash) keeps it, so the projection or a retry with the same key puts it in its place.
    """
    if text:
        await db.run(functools.partial(idem.stash_text, author_id=author_id), text_key, text)
        crash_point("after_text_stored")
    try:
        await action()
    except DomainError as err:
        if text and not isinstance(err, Unavailable):
            await db.run(idem.drop_text, text_key)
        raise


async def with_texts(
    db: Database,
    texts: dict[str, str | None],
    prepare: Callable[[Session], T],
    action: Callable[[T], Awaitable[object]],
) -> T:
    """``with_text`` for several texts (keyed as there; empty ones are not stored), stored in the
    same database call that reads the update's input, ``prepare(session)``; then
    ``action(input)``. One round trip before the update instead of one per text and one for
    the input. Answers the input."""
    given = {key: text for key, text in texts.items() if text}

    def before(session: Session) -> T:
        value = prepare(session)
        for key, text in given.items():
            idem.stash_text(session, key, text)
        return value

    value = await db.run(before)
    if given:
        crash_point("after_text_stored")
    try:
        await action(value)
    except DomainError as err:
        if given and not isinstance(err, Unavailable):

            def drop(session: Session) -> None:
                for key in given:
                    idem.drop_text(session, key)

            await db.run(drop)
        raise
    return value


def place_note(
    session: Session,
    text_key: str,
    *,
    interaction_id: str,
    kind: str,
    actor_id: str | None,
    details: dict[str, Any],
    escalation_id: str | None = None,
) -> None:
    """Move the text stored under ``text_key`` (if any) onto the timeline as a note (committed)."""
    note = idem.take_text(session, text_key)
    if note is not None:
        repo.add_note(
            session,
            key=f"note:{text_key}",
            interaction_id=interaction_id,
            escalation_id=escalation_id,
            kind=kind,
            actor_id=actor_id,
            note=note,
            details=details,
        )
    session.commit()
