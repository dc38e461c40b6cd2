"""A worker cancelling a synchronous activity (its shutdown, a timeout) raises ``CancelledError``
inside the activity's thread; raised in the middle of a query it broke the connection ("another
command is already in progress") and the worker's shutdown hung on it. Activity sessions hold
the cancellation back until the session's block ends."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import CancelledError
from temporalio.testing import ActivityEnvironment

from activities.sessions import activity_sessions


def work(factory: sessionmaker[Session], inside: threading.Event, done: list[str]) -> None:
    with factory() as session:
        session.execute(text("SELECT 1"))
        inside.set()
        time.sleep(0.5)  # the cancellation arrives here
        done.append(str(session.execute(text("SELECT 'finished'")).scalar_one()))


async def cancel_inside(factory: sessionmaker[Session]) -> tuple[list[str], BaseException | None]:
    env, inside = ActivityEnvironment(), threading.Event()
    done: list[str] = []
    loop = asyncio.get_running_loop()
    run = loop.run_in_executor(None, env.run, work, factory, inside, done)
    await loop.run_in_executor(None, inside.wait, 5)
    env.cancel()
    try:
        await run
    except BaseException as err:  # what ended the activity is the answer
        return done, err
    return done, None


async def test_a_cancellation_waits_for_the_session_block_to_end(sessions: sessionmaker[Session]) -> None:
    done, err = await cancel_inside(activity_sessions(sessions))
    assert done == ["finished"], "the cancellation landed inside the session's block"
    assert isinstance(err, CancelledError)
    with activity_sessions(sessions)() as session:  # the pool's connection still works
        assert session.execute(text("SELECT 1")).scalar_one() == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_plain_session_is_cut_in_the_middle(sessions: sessionmaker[Session]) -> None:
    """The control: without the shield the cancellation lands inside the block."""
    done, err = await cancel_inside(sessions)
    assert done == [] and isinstance(err, CancelledError)
