"""``followthrough notify simulate``: the delivery timeline a policy gives, before changing it."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import CHICAGO_TEAM

EVENTS = """
notices:
  - {id: overdue, at: "2026-11-17T17:00:00-06:00", recipient_id: lead-1, kind: escalation,
     trigger: deadline_missed, repeat: 40, spread_seconds: 0.5}
  - {id: safety-9, at: "2026-11-17T17:00:10-06:00", recipient_id: lead-1, kind: escalation,
     trigger: safety, member_id: mem-9}
  - {id: late-9, at: "2026-11-17T17:00:12-06:00", recipient_id: lead-1, kind: escalation,
     trigger: deadline_missed, member_id: mem-9}
"""


def team_file(tmp_path: Path, **notifications: object) -> Path:
    path = tmp_path / "team.yaml"
    cfg = {**CHICAGO_TEAM, "notifications": notifications} if notifications else CHICAGO_TEAM
    path.write_text(yaml.safe_dump({"team_id": "eastside", "config": cfg}))
    return path


def run(tmp_path: Path, team: Path, events: str) -> tuple[int, str]:
    file = tmp_path / "events.yaml"
    file.write_text(events)
    result = CliRunner().invoke(app, ["notify", "simulate", "--team", str(team), "--file", str(file)])
    return result.exit_code, result.output


def test_simulate_prints_the_grouped_timeline(tmp_path: Path) -> None:
    code, out = run(tmp_path, team_file(tmp_path), EVENTS)
    assert code == 0, out
    assert "42 notice(s) -> 2 delivery(ies), 1 inhibited" in out
    assert "(+10s)  to lead-1: 1 notice(s) [bypass] safety-9" in out
    assert "(+30s)  to lead-1: 40 notice(s) [group_wait]" in out
    assert "inhibited: late-9 to lead-1 (a safety escalation is open for mem-9)" in out


def test_simulate_follows_the_policy_given(tmp_path: Path) -> None:
    code, out = run(tmp_path, team_file(tmp_path, max_items_per_delivery=15, bypass=[]), EVENTS)
    assert code == 0, out
    assert "[overflow]" in out
    assert "[bypass]" not in out


def test_simulate_shows_a_team_with_grouping_off_one_delivery_per_notice(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    off = {**CHICAGO_TEAM, "notifications": None}
    path.write_text(yaml.safe_dump({"team_id": "eastside", "config": off}))
    code, out = run(tmp_path, path, EVENTS)
    assert code == 0, out
    assert "grouping off (notifications: null)" in out
    assert "42 notice(s) -> 41 delivery(ies), 1 inhibited" in out
    assert "(+0s)  to lead-1: 1 notice(s) [ungrouped] overdue-1" in out


def test_a_bad_events_file_is_refused_clearly(tmp_path: Path) -> None:
    code, out = run(tmp_path, team_file(tmp_path), "notices: [{id: x, at: yesterday}]")
    assert code != 0
    assert "events file rejected" in out
