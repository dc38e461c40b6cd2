"""Reconcile right after a worker died (a crash, a deploy that killed it): the cases it had cached
are still bound to its sticky task queue, so the server holds a query for them until its sticky
timeout (the SDK's 10 s) before handing it to the live worker. Reconcile must wait that out and
find every case in step, not report them as failed queries (exit 1) to an operator who ran it to
check a restart.

Seen first in the crash-points drill: its closing reconcile, run a second after the workers were
restarted, exited 1 with ``query_failed … RPCError:CANCELLED`` for a case the dead worker held."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest

from drills.common import ROOT, SYSTEM, Api, Stats, cli, interaction_body, member_for, stack, wait_ready

pytestmark = pytest.mark.drill

CASES = 6


async def test_reconcile_a_moment_after_a_worker_was_killed_finds_every_case_in_step() -> None:
    prefix = f"rw-{uuid.uuid4().hex[:6]}"
    with stack() as s:
        await wait_ready(s.base_url)
        async with Api(s.base_url, Stats()) as api:
            for i in range(CASES):
                r = await api.request(
                    "create",
                    "POST",
                    "/v1/interactions",
                    token=SYSTEM,
                    json_body=interaction_body(f"{prefix}-{i}", member_for(i)),
                )
                assert r.status_code == 201, r.text
        s.worker.kill9()  # every case was cached by this worker, on its sticky queue
        s.start_worker()
        proc = await asyncio.to_thread(
            subprocess.run,
            cli("reconcile"),
            env=s.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert "query_failed" not in proc.stdout, proc.stdout
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-2000:])
