"""The idempotency store under concurrent writers: inserts are race-safe (ON CONFLICT), never a
primary-key error (which an API answers with 500)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store import idempotency as idem
from store.models import IdempotentAnswer, PendingText

WRITERS = 8


def at_once(sessions: sessionmaker[Session], work: Callable[[Session], object]) -> list[object]:
    """``work(session)`` in ``WRITERS`` threads released together; what each returned or raised."""
    gate = threading.Barrier(WRITERS)
    results: list[object] = [None] * WRITERS

    def run(n: int) -> None:
        with sessions() as session:
            gate.wait()
            try:
                results[n] = work(session)
            except Exception as err:  # the test reports what each writer met
                results[n] = err

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_stashes_of_one_action_keep_one_text_with_its_author(
    sessions: sessionmaker[Session],
) -> None:
    for round_ in range(5):
        key = f"escalation_action_taken:race-{round_}"
        stash = functools.partial(idem.stash_text, key=key, text="CANARY called", author_id="lead-1")
        got = at_once(sessions, stash)
        assert not [e for e in got if isinstance(e, Exception)], got
        with sessions() as s:
            rows = s.scalars(select(PendingText).where(PendingText.key == key)).all()
            assert [(r.text, r.author_id) for r in rows] == [("CANARY called", "lead-1")]
            assert idem.take_text(s, key) == "CANARY called"
            s.commit()
            assert idem.pending_text(s, key) is None


def test_concurrent_claims_of_one_key_claim_it_once(sessions: sessionmaker[Session]) -> None:
    for round_ in range(5):
        key = f"answer-race-{round_}"
        got = at_once(sessions, functools.partial(idem.begin_answer, key=key, request_hash="hash"))
        assert got == [None] * WRITERS, got  # claimed (or claimed and still running): no error
        with sessions() as s:
            assert s.scalars(select(IdempotentAnswer.key).where(IdempotentAnswer.key == key)).all() == [key]
            idem.finish_answer(s, key, 200, {"ok": True})
            stored = idem.begin_answer(s, key, "hash")
            assert stored is not None and stored.status == 200
