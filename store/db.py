"""The one engine and session factory of the process."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

log = structlog.get_logger(__name__)
# SQLite's busy timeout (seconds): how long a write waits for another process's write to end.
SQLITE_BUSY_SECONDS = 30
# Statements that take SQLite's write lock (the driver begins the transaction before them).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS = "followthrough_writer"  # in a DBAPI connection's info: it holds its process's writer lock
_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    connect_timeout: int = 10,
) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so worker and API can share it.

    Bound parameters never appear in error messages or logs (``hide_parameters``): they carry
    member text. A PostgreSQL server that does not answer fails the connect in
    ``connect_timeout`` seconds; a pool with no free connection fails in ``pool_timeout``.
    """
    # Each checkout pings first: a PostgreSQL server restarted or failed over drops pooled
    # connections. SQLite keeps it too: without it (4 % of the worker's busy time in the 17:00
    # herd) the crash-points drill's closing reconcile found cases whose state queries were
    # cancelled, 2 runs of 2 (tests/drills/test_crash_points.py; cause not found).
    kwargs: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}
    else:
        kwargs["connect_args"] = {"connect_timeout": connect_timeout}
    if ":memory:" not in url:
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        _one_writer_at_a_time(engine)
    return engine


def writer_lock(engine: Engine) -> threading.Lock | None:
    """The lock a SQLite engine's write transactions take in this process (None: not SQLite)."""
    return _WRITER_LOCKS.get(engine)


def _one_writer_at_a_time(engine: Engine) -> None:
    """SQLite lets one transaction write at a time; the others wait in its busy handler, which
    sleeps in steps growing to 100 ms whatever happens meanwhile. With 16 activity threads writing
    at 17:00 most of the worker's projections and notices were asleep there (bench P3: 57 % of the
    worker's thread samples in ``do_execute``). Here a transaction takes a process-wide lock at its
    first write and gives it back at its commit or rollback (or when its connection is reset,
    closed or invalidated), so the process's writers queue on the lock and each starts the moment
    the one before it ends. Reads never take it (WAL: readers do not wait for the writer). Another
    process (API, a second worker) still meets SQLite's own busy handler. A writer that waited
    ``SQLITE_BUSY_SECONDS`` goes on without the lock, to SQLite's own wait and its error (a
    thread writing on two connections at once, for one)."""
    lock = threading.Lock()
    _WRITER_LOCKS[engine] = lock

    def release(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS, False):
            lock.release()

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if conn.info.get(_HOLDS) or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        if lock.acquire(timeout=SQLITE_BUSY_SECONDS):
            conn.info[_HOLDS] = True
        else:
            log.warning("sqlite.writer_lock_timed_out", waited_seconds=SQLITE_BUSY_SECONDS)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _give_back(conn: Connection) -> None:
        if not conn.invalidated:  # an invalidated one gave it back then ("invalidate")
            release(conn.info)

    @event.listens_for(engine, "reset")
    def _reset(dbapi_conn: Any, record: Any, reset_state: Any) -> None:
        release(record.info)

    @event.listens_for(engine, "close")
    def _close(dbapi_conn: Any, record: Any) -> None:
        release(record.info)

    @event.listens_for(engine, "invalidate")
    def _invalidate(dbapi_conn: Any, record: Any, exception: BaseException | None) -> None:
        release(record.info)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error. Repositories never commit."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """Commit what the block wrote to an already-open request session; roll back on error."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
