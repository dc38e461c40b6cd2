"""Named leases (``store.leases``): one holder at a time by the database's clock, fenced by a
token, and a periodic job due once per interval whoever runs it."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from store import leases
from tests.store.test_idempotency_races import at_once


def test_one_holder_at_a_time_and_a_stale_holder_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        first = leases.acquire(s, "job", seconds=0.5)
        assert first is not None
        assert leases.acquire(s, "job", seconds=60) is None  # held
        assert leases.holder(s, "job")[0] == leases.holder_name()
        time.sleep(0.7)  # the lease ran out (by the database's clock)
        second = leases.acquire(s, "job", seconds=60)
        assert second is not None and second != first
        # The first holder, back late, neither renews nor releases the new holder's lease.
        assert not leases.renew(s, "job", first, seconds=60)
        assert not leases.release(s, "job", first)
        assert leases.acquire(s, "job", seconds=60) is None
        assert leases.renew(s, "job", second, seconds=60)
        assert leases.release(s, "job", second)
        assert leases.holder(s, "job") == (None, None)


def test_writers_at_once_get_exactly_one_lease(sessions: sessionmaker[Session]) -> None:
    got = at_once(sessions, lambda s: leases.acquire(s, "race", seconds=60))
    assert not any(isinstance(g, Exception) for g in got), got
    assert sum(1 for g in got if g is not None) == 1


def test_a_scheduled_run_is_due_once_per_interval_but_a_run_on_request_need_not_wait(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        token = leases.acquire(s, "periodic", seconds=60, scheduled=True)
        assert token is not None
        assert leases.release(s, "periodic", token, next_run_in=0.5)
        assert leases.acquire(s, "periodic", seconds=60, scheduled=True) is None  # not due yet
        on_request = leases.acquire(s, "periodic", seconds=60)
        assert on_request is not None
        assert leases.release(s, "periodic", on_request)
        time.sleep(0.7)
        assert leases.acquire(s, "periodic", seconds=60, scheduled=True) is not None
