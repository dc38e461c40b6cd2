"""Named leases: one process at a time runs a job (``followthrough reconcile`` on the workers).

A lease is a row of ``leases`` taken with a conditional update, so it works the same on SQLite
and PostgreSQL. As the outbox's leases (``store.outbox``), every time is the *database's* clock
(``db_clock``), never a process's, and every holder writes a random token that its renewals and
its release must name: a holder whose lease ran out (and was taken by another) changes nothing.

A periodic job also keeps ``next_run_at``: replicas that all try every interval find the job
due only once per interval, whoever ran it. A run on request (the CLI) does not wait for it.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from store.db import race_safe_insert
from store.models import Lease
from store.outbox import database_now, db_clock


def holder_name() -> str:
    """Who holds a lease, for ops reading the table: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def _ensure(session: Session, name: str) -> None:
    """The lease's row exists (free, expired at once); a race of two inserts is harmless."""
    session.execute(
        race_safe_insert(session, Lease)
        .values(name=name, token=None, holder=None, expires_at=db_clock(), next_run_at=None)
        .on_conflict_do_nothing(index_elements=[Lease.name])
    )


def acquire(session: Session, name: str, *, seconds: float, scheduled: bool = False) -> str | None:
    """Take the lease ``name`` for ``seconds`` (committed): its token, or None if another holds it.

    ``scheduled``: a periodic run, taken only once ``next_run_at`` has come as well.
    """
    _ensure(session, name)
    token = uuid.uuid4().hex
    due = [Lease.name == name, or_(Lease.token.is_(None), Lease.expires_at <= db_clock())]
    if scheduled:
        due.append(or_(Lease.next_run_at.is_(None), Lease.next_run_at <= db_clock()))
    result = session.execute(
        update(Lease)
        .where(*due)
        .values(token=token, holder=holder_name(), expires_at=db_clock(seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def renew(session: Session, name: str, token: str, *, seconds: float) -> bool:
    """Keep holding the lease for ``seconds`` more; False if it is no longer this holder's."""
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.token == token)
        .values(expires_at=db_clock(seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    done: bool = result.rowcount == 1  # type: ignore[attr-defined]
    return done


def release(session: Session, name: str, token: str, *, next_run_in: float | None = None) -> bool:
    """Give the lease up; ``next_run_in``: the periodic job is due again that many seconds from
    now (by the database's clock). False (nothing written) if it was no longer this holder's."""
    values: dict[str, object] = {"token": None, "holder": None, "expires_at": db_clock()}
    if next_run_in is not None:
        values["next_run_at"] = db_clock(next_run_in)
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    done: bool = result.rowcount == 1  # type: ignore[attr-defined]
    return done


def holder(session: Session, name: str) -> tuple[str | None, datetime | None]:
    """Who holds the lease and until when (None, None: nobody, or it ran out)."""
    row = session.scalar(select(Lease).where(Lease.name == name))
    if row is None or row.token is None or row.expires_at <= database_now(session):
        return None, None
    return row.holder, row.expires_at
