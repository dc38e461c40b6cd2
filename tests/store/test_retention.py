"""Retention (issue 23): stored idempotent answers (with member text) and pending texts are purged
once older than ``IDEMPOTENCY_RETENTION_HOURS`` (72), and expired console sessions with them, by
the worker (``workers.retention``); nothing younger is touched."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from store.models import ConsoleSession, IdempotentAnswer, PendingText
from workers.retention import Retention, purge_expired


def seed(sessions: sessionmaker[Session], now: datetime) -> None:
    with sessions() as s:
        for name, age in (("old", timedelta(hours=73)), ("young", timedelta(hours=71))):
            s.add(
                IdempotentAnswer(
                    key=f"{name}-answer",
                    request_hash="h",
                    status=200,
                    body={"note": "CANARY member text"},
                    created_at=now - age,
                )
            )
            s.add(IdempotentAnswer(key=f"{name}-claim", request_hash="h", created_at=now - age))
            s.add(PendingText(key=f"attempt:{name}", text="CANARY member text", created_at=now - age))
        s.add(
            ConsoleSession(
                id="ended", created_at=now - timedelta(hours=11), expires_at=now - timedelta(hours=1)
            )
        )
        s.add(
            ConsoleSession(
                id="open", created_at=now - timedelta(hours=1), expires_at=now + timedelta(hours=9)
            )
        )
        s.commit()


def keys(sessions: sessionmaker[Session]) -> tuple[set[str], set[str], set[str]]:
    with sessions() as s:
        return (
            set(s.scalars(select(IdempotentAnswer.key))),
            set(s.scalars(select(PendingText.key))),
            set(s.scalars(select(ConsoleSession.id))),
        )


def test_answers_and_texts_older_than_the_retention_are_purged(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    seed(sessions, now)
    assert Settings().idempotency_retention_hours == 72
    purged = purge_expired(sessions, retention=timedelta(hours=72), now=now)
    assert purged.answers == 2 and purged.texts == 1 and purged.sessions == 1
    answers, texts, console = keys(sessions)
    assert answers == {"young-answer", "young-claim"}
    assert texts == {"attempt:young"}
    assert console == {"open"}
    again = purge_expired(sessions, retention=timedelta(hours=72), now=now)
    assert (again.answers, again.texts, again.sessions) == (0, 0, 0)


def test_a_purge_works_through_many_rows_in_batches(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    with sessions() as s:
        old = now - timedelta(days=10)
        s.add_all(IdempotentAnswer(key=f"k{i}", request_hash="h", created_at=old) for i in range(250))
        s.commit()
    purged = purge_expired(sessions, retention=timedelta(hours=72), now=now, batch=100)
    assert purged.answers == 250
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(IdempotentAnswer)) == 0


async def test_the_worker_purges_on_its_own_and_stops(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    seed(sessions, now)
    retention = Retention(Settings(idempotency_retention_hours=72), sessions, interval=0.05, first=0.0)
    task = asyncio.create_task(retention.run())
    for _ in range(100):
        if keys(sessions)[1] == {"attempt:young"}:
            break
        await asyncio.sleep(0.05)
    retention.stop()
    await asyncio.wait_for(task, timeout=5)
    assert keys(sessions) == ({"young-answer", "young-claim"}, {"attempt:young"}, {"open"})
