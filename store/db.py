"""The one engine and session factory of the process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


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
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
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

    return engine


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


def race_safe_insert(session: Session, table: type[DeclarativeBase]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT, in the session's dialect (PostgreSQL or SQLite).

    Check-then-insert loses a race to a concurrent insert of the same key (an IntegrityError,
    a 500); ON CONFLICT lets the database decide which writer came first.
    """
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no race-safe insert for the {name} dialect")  # pragma: no cover
