"""A command that talked to Temporal ends with its own exit code and all its output.

Such a command ends without the interpreter's teardown (``cli.common.end_command``): the Temporal
client's native threads could abort it after the work was done (``Fatal Python error:
PyGILState_Release``, exit -6; 1 run of ``load-config`` in 15 against an idle dev server, and in
the drills). Skipping the teardown must not lose what was printed or change the exit code."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNS = 4


async def followthrough(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "from cli.main import main; main()", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def test_load_config_with_temporal_up_exits_0_with_its_last_line_every_time(
    dev_env: Any, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FOLLOWTHROUGH_DATABASE_URL": f"sqlite:///{tmp_path / 'exit.db'}",
        "FOLLOWTHROUGH_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
    }
    assert (await followthrough(env, "migrate")).returncode == 0
    for _ in range(RUNS):
        done = await followthrough(env, "load-config", "config/demo_team.yaml")
        assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
        assert done.stdout.rstrip().endswith("check-ins of eastside follow the loaded calendar"), done.stdout
    # A command that fails after its async work keeps its exit code and its message.
    failed = await followthrough(env, "report", "--team", "nowhere")
    assert failed.returncode == 1, (failed.returncode, failed.stdout, failed.stderr)
    assert "unknown team" in failed.stdout + failed.stderr
