"""Crash points (``services.faults``): nothing unless armed; armed, the n-th pass ends the
process with exit code 70 and says which point it was."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services import faults

PROBE = (
    "from services.faults import crash_point\n"
    "for i in range(1, 6):\n"
    "    crash_point('after_text_stored')\n"
    "    print(i, flush=True)\n"
)


def run_probe(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWTHROUGH_CRASH")}
    return subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=False
    )


def test_unarmed_crash_point_does_nothing() -> None:
    got = run_probe()
    assert got.returncode == 0 and got.stdout.split() == ["1", "2", "3", "4", "5"]
    other = run_probe(FOLLOWTHROUGH_CRASH_AT="after_update_before_answer")
    assert other.returncode == 0 and other.stdout.split() == ["1", "2", "3", "4", "5"]


def test_armed_crash_point_exits_70_on_the_nth_pass() -> None:
    first = run_probe(FOLLOWTHROUGH_CRASH_AT="after_text_stored")
    assert first.returncode == faults.CRASH_EXIT_CODE and first.stdout == ""
    third = run_probe(FOLLOWTHROUGH_CRASH_AT="after_text_stored", FOLLOWTHROUGH_CRASH_EVERY="3")
    assert third.returncode == 70 and third.stdout.split() == ["1", "2"]
    assert "crash point after_text_stored: pass 3" in third.stderr
    own = run_probe(FOLLOWTHROUGH_CRASH_AT="between_insert_and_start, after_text_stored:2")
    assert own.returncode == 70 and own.stdout.split() == ["1"]


def test_parse_refuses_unknown_points_and_bad_rates() -> None:
    assert faults.parse("", "") == {}
    assert faults.parse("after_text_stored,after_channel_accepted:3", "7") == {
        "after_text_stored": 7,
        "after_channel_accepted": 3,
    }
    with pytest.raises(ValueError, match="unknown crash point"):
        faults.parse("after_tex_stored", "")
    with pytest.raises(ValueError, match="at least 1"):
        faults.parse("after_text_stored:0", "")
