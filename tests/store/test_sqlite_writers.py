"""SQLite's writers queue on one lock per process (``store.db._one_writer_at_a_time``) instead of
sleeping in SQLite's busy handler, and the lock is always given back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

import store.db
from store.db import make_engine, make_sessionmaker, unit_of_work, writer_lock
from store.models import Base, Team


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    Base.metadata.create_all(e)
    return e


def team(i: int) -> dict[str, object]:
    return {"id": f"t{i}", "name": f"Team {i}", "config": {}, "version": 1, "updated_at": datetime.now(UTC)}


def test_only_sqlite_engines_get_a_writer_lock(engine: Engine) -> None:
    assert writer_lock(engine) is not None
    assert writer_lock(make_engine("postgresql+psycopg://u@localhost:1/none")) is None


def test_a_write_holds_the_lock_until_its_commit_and_a_read_never_takes_it(engine: Engine) -> None:
    lock, sessions = writer_lock(engine), make_sessionmaker(engine)
    assert lock is not None
    with unit_of_work(sessions) as session:
        session.execute(select(Team.id)).all()
        assert not lock.locked()  # reading takes nothing
        session.execute(insert(Team).values(**team(1)))
        assert lock.locked()
    assert not lock.locked()
    with sessions() as session:
        assert session.scalars(select(Team.id)).all() == ["t1"]


@pytest.mark.parametrize("end", ["rollback", "error", "close without commit", "invalidate"])
def test_the_lock_is_given_back_however_the_transaction_ends(engine: Engine, end: str) -> None:
    lock, sessions = writer_lock(engine), make_sessionmaker(engine)
    assert lock is not None
    if end == "error":

        def fails() -> None:
            with unit_of_work(sessions) as session:
                session.execute(insert(Team).values(**team(1)))
                raise RuntimeError("the activity failed half-way")

        with pytest.raises(RuntimeError):
            fails()
    else:
        session = sessions()
        session.execute(insert(Team).values(**team(1)))
        assert lock.locked()
        if end == "rollback":
            session.rollback()
        elif end == "invalidate":
            session.connection().invalidate()
        session.close()
    assert not lock.locked()
    with unit_of_work(sessions) as session:  # and the next writer goes ahead
        session.execute(insert(Team).values(**team(2)))
    with sessions() as session:
        assert session.scalars(select(Team.id)).all() == ["t2"]


def test_writers_of_many_threads_queue_and_all_land(engine: Engine) -> None:
    """Sixteen threads (the worker's activity slots) each writing 20 transactions that read, then
    write: none fails with "database is locked", none is lost."""
    sessions = make_sessionmaker(engine)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for j in range(20):
                with unit_of_work(sessions) as session:
                    session.execute(text("SELECT count(*) FROM teams")).scalar()
                    session.execute(insert(Team).values(**team(k * 100 + j)))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM teams")).scalar() == 320


def test_a_thread_writing_on_a_second_connection_does_not_wait_for_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread that holds the lock through one connection and writes on another meets SQLite's
    own busy wait and error, as without the lock, instead of first waiting for itself."""
    monkeypatch.setattr(store.db, "SQLITE_BUSY_SECONDS", 1)
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    Base.metadata.create_all(engine)
    lock, sessions = writer_lock(engine), make_sessionmaker(engine)
    assert lock is not None
    with sessions() as outer, sessions() as inner, capture_logs() as logs:
        outer.execute(insert(Team).values(**team(1)))
        assert lock.held_here()
        with pytest.raises(OperationalError, match="database is locked"):
            inner.execute(insert(Team).values(**team(2)))
    events = [e["event"] for e in logs]
    assert "sqlite.second_writer_in_thread" in events
    assert "sqlite.writer_lock_timed_out" not in events
    assert not lock.locked()


def test_a_sqlite_session_runs_only_its_own_statements(engine: Engine) -> None:
    """A SQLite connection is a file handle: no ``SELECT 1`` ping at each checkout (every
    activity's session paid one; 5 % of the worker at 17:00). A server's pool still pings."""
    statements: list[str] = []

    @event.listens_for(engine, "checkout")
    def trace(dbapi_conn: Any, *_: Any) -> None:
        dbapi_conn.set_trace_callback(statements.append)

    sessions = make_sessionmaker(engine)
    for _ in range(3):
        with sessions() as session:
            session.execute(select(Team.id)).all()
    assert [s for s in statements if "SELECT 1" in s.upper()] == []
    assert sum("FROM teams" in s for s in statements) == 3
    assert make_engine("postgresql+psycopg://u@localhost:1/none").pool._pre_ping
