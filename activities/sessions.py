"""Sessions for activities: a cancellation never lands in the middle of a query."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity


class ActivitySession(Session):
    """A session whose ``with`` block holds back an activity's cancellation until it ends.

    The SDK cancels a synchronous activity (a worker shutting down, a timeout) by raising
    ``CancelledError`` inside its thread, wherever it is. Raised in the middle of a query, it left
    the connection half-way through the protocol ("another command is already in progress"), its
    rollback failed, and the worker's shutdown waited on it (a test's teardown hung for two
    minutes). Inside an activity the exception is now raised when the session's block ends;
    outside one, nothing changes.
    """

    _shield: AbstractContextManager[None] | None = None

    def __enter__(self) -> ActivitySession:
        if activity.in_activity():
            self._shield = activity.shield_thread_cancel_exception()
            self._shield.__enter__()
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            shield, self._shield = self._shield, None
            if shield is not None:
                shield.__exit__(None, None, None)


def activity_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The same session factory (same engine and options), making ``ActivitySession``s."""
    return sessionmaker(class_=ActivitySession, **sessions.kw)
