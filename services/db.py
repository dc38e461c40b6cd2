"""Database work from async code: short sessions in a bounded thread pool, never across an await.

A request's async code never touches a session itself: it hands a function to ``Database.run``,
which runs it in a worker thread with a session of its own that is closed (its connection back
in the pool) before ``run`` returns. So no connection is held while a request waits on Temporal,
and a slow or locked database never blocks the event loop. At most as many threads run as the
pool has connections, so a burst queues for a thread rather than timing out on the pool.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import anyio
import structlog
from anyio import CapacityLimiter
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from domain.errors import Unavailable

log = structlog.get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

RETRY_AFTER_SECONDS = 5


class Database:
    """The process's sessions, used from async code."""

    def __init__(self, sessions: sessionmaker[Session], *, threads: int) -> None:
        self.sessions = sessions
        self._limiter = CapacityLimiter(threads)

    async def run(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(session, *args, **kwargs)`` in a worker thread, with a session closed afterwards.

        ``fn`` commits what it writes. The database being down, locked past its timeout or out
        of connections raises ``Unavailable`` (503) without the driver's message.
        """
        call = functools.partial(self._call, False, fn, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter, abandon_on_cancel=True)

    async def read(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Like ``run``, for reads that must see one snapshot (a row and its timeline agree):
        REPEATABLE READ on PostgreSQL (SQLite transactions are serializable anyway)."""
        call = functools.partial(self._call, True, fn, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter, abandon_on_cancel=True)

    def _call(
        self, snapshot: bool, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            with self.sessions() as session:
                if snapshot:
                    begin_snapshot(session)
                return fn(session, *args, **kwargs)
        except (OperationalError, InterfaceError, PoolTimeout) as err:
            raise database_unavailable(err) from err
        except DBAPIError as err:
            if err.connection_invalidated:
                raise database_unavailable(err) from err
            raise


def begin_snapshot(session: Session) -> None:
    """Commit what the session has open and make its next transaction one snapshot: REPEATABLE
    READ on PostgreSQL (SQLite's transactions are serializable anyway). For a call that writes
    and then reads what it answers (``Database.read`` does this for a whole call)."""
    if session.in_transaction():
        session.commit()
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def database_unavailable(err: Exception) -> Unavailable:
    # The driver's text may name hosts or carry SQL; the log gets its class only.
    log.warning("database.unavailable", error_type=type(getattr(err, "orig", None) or err).__name__)
    return Unavailable("the database is not reachable; try again shortly", retry_after=RETRY_AFTER_SECONDS)
