"""The one engine and session factory of the process."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = structlog.get_logger(__name__)
# SQLite's busy timeout (seconds): how long a write waits for another process's write to end.
SQLITE_BUSY_SECONDS = 30
# Statements that take SQLite's write lock (the driver begins the transaction before them).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS = "followthrough_writer"  # in a DBAPI connection's info: it holds its process's writer lock


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
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if url.startswith("sqlite"):
        # A SQLite connection is a file handle: nothing between it and the file can drop it, so
        # it is not pinged at each checkout (a ``SELECT 1`` per session: 5 % of the worker's CPU
        # at 17:00, bench P3).
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}
    else:
        # A server connection can die with its server (a restart, a failover): pinged at each
        # checkout, a dead one is replaced before a statement fails on it.
        kwargs["pool_pre_ping"] = True
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

        _WRITERS[engine] = _one_writer_at_a_time(engine)
    return engine


class WriterLock:
    """A process's turn to write to one SQLite file: the thread holding it, if any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None  # thread ident

    def take(self, timeout: float) -> bool:
        if self._lock.acquire(timeout=timeout):
            self.owner = threading.get_ident()
            return True
        return False

    def give_back(self) -> None:
        self.owner = None
        self._lock.release()

    def held_here(self) -> bool:
        return self.owner == threading.get_ident()

    def locked(self) -> bool:
        return self._lock.locked()


_WRITERS: weakref.WeakKeyDictionary[Engine, WriterLock] = weakref.WeakKeyDictionary()


def writer_lock(engine: Engine) -> WriterLock | None:
    """The lock a SQLite engine's write transactions take in this process (None: not SQLite)."""
    return _WRITERS.get(engine)


def _one_writer_at_a_time(engine: Engine) -> WriterLock:
    """SQLite lets one transaction write at a time; the others wait in its busy handler, which
    sleeps in steps growing to 100 ms whatever happens meanwhile. With the worker's activity
    threads writing at 17:00, most of its projections and notices were asleep there (bench P3:
    57 % of the worker's thread samples). Here a transaction takes a process-wide lock at its
    first write and gives it back at its commit or rollback (or when its connection is reset,
    closed or invalidated), so the process's writers queue on the lock and each starts the moment
    the one before it ends. Reads never take it (WAL: readers do not wait for the writer). Another
    process (the API, a second worker) still meets SQLite's own busy handler.

    A thread that already holds the lock through another connection does not wait for itself: its
    second connection goes to SQLite's own wait and error, as without the lock. A writer that
    waited ``SQLITE_BUSY_SECONDS`` goes on without it, to the same."""
    lock = WriterLock()

    def release(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS, False):
            lock.give_back()

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if conn.info.get(_HOLDS) or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        if lock.held_here():
            log.warning("sqlite.second_writer_in_thread")
        elif lock.take(timeout=SQLITE_BUSY_SECONDS):
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

    return lock


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


RaceSafeInsert = postgresql.Insert | sqlite.Insert
_INSERTS: dict[str, Callable[[type[DeclarativeBase]], RaceSafeInsert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def _insert_of(session: Session) -> Callable[[type[DeclarativeBase]], RaceSafeInsert]:
    name = session.get_bind().dialect.name
    insert = _INSERTS.get(name)
    if insert is None:  # pragma: no cover
        raise NotImplementedError(f"no race-safe insert for the {name} dialect")
    return insert


def race_safe_insert(session: Session, table: type[DeclarativeBase]) -> RaceSafeInsert:
    """An INSERT that can say ON CONFLICT, in the session's dialect (PostgreSQL or SQLite).

    Check-then-insert loses a race to a concurrent insert of the same key (an IntegrityError,
    a 500); ON CONFLICT lets the database decide which writer came first.
    """
    return _insert_of(session)(table)


S = TypeVar("S")


def race_safe_statement(
    build: Callable[[Callable[[type[DeclarativeBase]], RaceSafeInsert]], S],
) -> Callable[[Session], S]:
    """A statement with ``race_safe_insert`` built once per dialect, for a hot path: ``build``
    gets the dialect's ``insert`` and answers the statement (its values given when it is
    executed); the result answers it for a session. Building a statement costs about as much
    CPU as running it on SQLite."""
    built: dict[str, S] = {}

    def statement(session: Session) -> S:
        name = session.get_bind().dialect.name
        found = built.get(name)
        if found is None:
            found = built.setdefault(name, build(_insert_of(session)))
        return found

    return statement
