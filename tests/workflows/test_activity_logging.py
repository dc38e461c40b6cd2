"""Activity log lines name the workflow they work for, so ops can follow one case through the
logs, and a cancelled activity never leaves the log handler locked."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import structlog
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import interactions
from config.logging import ActivitySafeHandler
from tests.conftest import now_of
from tests.workflows.support import eventually, interaction_input, start, team


async def test_activity_log_lines_carry_workflow_id_and_activity_type(
    env: WorkflowEnvironment,
    client: Client,
    worker: Worker,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inp = interaction_input(team(), await now_of(env))
    # A fresh logger for the projection: the module's own may have been cached on first use by
    # a command run in-process earlier in the session (config/logging.py caches loggers), and a
    # cached logger does not see capture_logs.
    monkeypatch.setattr(interactions, "log", structlog.get_logger(interactions.__name__))
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        handle = await start(client, inp, task_queue)

        async def projected() -> list[MutableMapping[str, Any]]:
            return [e for e in logs if e["event"] == "interaction.projected"]

        lines = await eventually(projected)
    for line in lines:
        assert line["workflow_id"] == handle.id
        assert line["activity_type"] == "sync_interaction"
        assert line["workflow_run_id"] == handle.result_run_id
    # Nothing leaks out of the activity's context once it is done.
    assert "workflow_id" not in structlog.contextvars.get_contextvars()


# ---------------------------------------------------------------- a cancelled activity's last line
_FORMATTING, _RELEASE = threading.Event(), threading.Event()


class _SlowFormatter(logging.Formatter):
    """Formats the line only once the test says so (a line written while its activity is
    cancelled), waiting in short steps so that an exception raised in the thread lands here."""

    def format(self, record: logging.LogRecord) -> str:
        _FORMATTING.set()
        while not _RELEASE.wait(0.01):
            pass
        return super().format(record)


@activity.defn(name="talk_then_stop")
def _talk() -> None:
    logging.getLogger("tests.talker").warning("the activity's last line")


@workflow.defn(name="TalkThenStop", sandboxed=False)
class _TalkThenStop:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(_talk, start_to_close_timeout=timedelta(seconds=30))


async def test_a_line_logged_while_its_activity_is_cancelled_is_written_whole_and_frees_the_handler(
    client: Client, task_queue: str
) -> None:
    """The SDK cancels a synchronous activity (here: its worker shutting down) by raising inside
    its thread. A line being written then is written whole and the handler's lock is free
    afterwards; the cancellation comes once the line is out (config/logging.py)."""
    stream = io.StringIO()
    handler = ActivitySafeHandler(stream)
    handler.setFormatter(_SlowFormatter("%(message)s"))
    talker = logging.getLogger("tests.talker")
    talker.addHandler(handler)
    talker.propagate = False
    _FORMATTING.clear()
    _RELEASE.clear()
    try:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[_TalkThenStop],
            activities=[_talk],
            activity_executor=ThreadPoolExecutor(2),
            graceful_shutdown_timeout=timedelta(0),
        )
        await worker.__aenter__()
        await client.start_workflow(_TalkThenStop.run, id=f"talk-{task_queue}", task_queue=task_queue)
        assert await asyncio.to_thread(_FORMATTING.wait, 30), "the activity never logged"
        stopping = asyncio.ensure_future(worker.shutdown())
        await asyncio.sleep(1.0)  # the worker cancels the activity: raised in its thread meanwhile
        _RELEASE.set()
        await stopping
    finally:
        talker.removeHandler(handler)
        talker.propagate = True
    assert stream.getvalue() == "the activity's last line\n"
    assert handler.lock is not None and handler.lock.acquire(timeout=1), "the handler stayed locked"
    handler.lock.release()
