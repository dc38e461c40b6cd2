"""The worker's garbage collector (config/heap.py): what is alive at start-up is out of the
collector's sight, garbage made later is still freed, and the worker settles its heap once it is
built, before it serves."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import workers.main
from config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_a_settled_heap_hides_what_lived_and_still_frees_cycles_made_later() -> None:
    # In a process of its own: settling the heap of the test process would change every later test.
    probe = textwrap.dedent(
        """
        import gc, weakref
        from config.heap import settle_heap

        class Node:
            pass

        def cycle():
            a, b = Node(), Node()
            a.other, b.other = b, a
            return a

        kept = cycle()
        before = gc.get_freeze_count()
        settle_heap()
        frozen = gc.get_freeze_count()
        garbage = cycle()
        freed = []
        weakref.finalize(garbage, freed.append, True)
        del garbage
        gc.collect()
        print(before, frozen, gc.get_threshold(), bool(freed))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split(maxsplit=2)
    before, frozen, rest = int(out[0]), int(out[1]), out[2]
    assert before == 0
    assert frozen > 1000  # the interpreter's and the imports' objects, frozen
    assert rest.strip() == "(700, 10, 10) True"  # CPython's thresholds, kept


async def test_the_worker_settles_its_heap_once_built_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    running = asyncio.Event()

    class FakeWorker:
        async def run(self) -> None:
            steps.append("worker runs")
            running.set()
            await asyncio.Event().wait()

        async def shutdown(self) -> None:
            steps.append("worker shut down")

    class Idle:
        def __init__(self, *_: Any, **__: Any) -> None:
            pass

        async def run(self) -> None:
            await asyncio.Event().wait()

        def stop(self) -> None:
            pass

    def build(*_: Any, **__: Any) -> FakeWorker:
        steps.append("worker built")
        return FakeWorker()

    monkeypatch.setattr(workers.main, "build_worker", build)
    monkeypatch.setattr(workers.main, "settle_heap", lambda: steps.append("heap settled"))
    for name in ("Dispatcher", "Outbox", "Reconciler", "Retention"):
        monkeypatch.setattr(workers.main, name, Idle)
    stop = asyncio.Event()
    serving = asyncio.create_task(workers.main.serve(None, Settings(), None, stop))  # type: ignore[arg-type]
    await asyncio.wait_for(running.wait(), 10)
    stop.set()
    assert await asyncio.wait_for(serving, 10) is True
    assert steps == ["worker built", "heap settled", "worker runs", "worker shut down"]
