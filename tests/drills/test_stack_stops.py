"""A drill or bench stopped with SIGTERM (``kill``, ``timeout``) stops its stack's processes too:
they run in sessions of their own, and before ``drills.common.stack`` turned SIGTERM into an
exit, a stopped P3 left its Temporal dev server and worker running under the next figure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.drill

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import time
from drills.common import stack
with stack(start_api=False) as s:
    print(s.temporal.pid, s.worker.pid, flush=True)
    time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stack_stopped_with_sigterm_stops_its_server_and_worker() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert holder.stdout is not None
    pids: list[int] = []
    try:
        pids = [int(p) for p in holder.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 30
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in pids if alive(p)], "the stack's processes outlived the stopped drill"
    finally:
        if holder.poll() is None:
            holder.kill()
        for p in pids:  # what a failing run left behind
            if alive(p):
                os.killpg(p, signal.SIGKILL)
