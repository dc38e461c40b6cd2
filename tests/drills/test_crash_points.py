"""Fast version of ``drills.crash_points`` (issue 19): the API and two workers die at the
product's named crash points under load, half the clients never repeat a failed request, and
after ``followthrough reconcile`` every check of the drill must hold: Temporal and SQL agree on
every case, one effect per operation key, each text placed once with its author, no version-0
row or pending text left, receiver duplicates no more than the crashes between send and record.
The judgement is fed bad fake states first, so it cannot pass by looking away."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.ids import interaction_workflow_id
from domain.messages import AttemptRecord, InteractionState
from drills import crash_points as cp
from drills.common import TEAM, Notice, SqlCase, SqlSide, TemporalCase

pytestmark = pytest.mark.drill

WHEN = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def sent(ext: str, *, resolve: bool = True) -> cp.Case:
    """A lifecycle as a client sent it: create, an attempt with a note, a resolve."""
    case = cp.Case(ext, repeats=True)
    case.ops += [
        cp.Op("create", None, result="ok"),
        cp.Op("attempt", f"k-a-{ext}", f"note of {ext} by chw-ana", "chw-ana", result="ok"),
    ]
    if resolve:
        case.ops.append(
            cp.Op("resolve", f"k-r-{ext}", f"resolution of {ext} by chw-ana", "chw-ana", result="ok")
        )
    return case


def row(ext: str, **kw: Any) -> SqlCase:
    base = SqlCase(ext, f"id-{ext}", interaction_workflow_id(TEAM, ext), "resolved", "chw-ana", 3, 1)
    return replace(base, **kw)


def state(**kw: object) -> InteractionState:
    attempt = {"attempt_id": "att-1", "seq": 1, "outcome": "reached", "staff_id": "chw-ana", "at": WHEN}
    fields: dict[str, object] = {
        "interaction_id": "id-x",
        "team_id": TEAM,
        "channel": "call",
        "received_at": WHEN,
        "due_at": WHEN,
        "status": "resolved",
        "assignee_id": "chw-ana",
        "attempts": [AttemptRecord.model_validate(attempt)],
        "version": 3,
    }
    fields.update(kw)
    return InteractionState.model_validate(fields)


def good(exts: list[str]) -> tuple[list[cp.Case], cp.Snapshot]:
    """Cases resolved once each, every text in its place, every notice received once."""
    cases = [sent(ext) for ext in exts]
    rows = [row(ext) for ext in exts]
    snap = cp.Snapshot(
        sql=SqlSide(
            rows=rows,
            attempts={r.id: 1 for r in rows},
            notices=[Notice(r.id, f"n-{r.id}", "assigned", "chw-ana", delivered=True) for r in rows],
        ),
        temporal={r.workflow_id: TemporalCase("completed", state()) for r in rows},
        placed=[cp.Placed("attempt", e, f"note of {e} by chw-ana", "chw-ana", "resolved") for e in exts]
        + [cp.Placed("resolution", e, f"resolution of {e} by chw-ana", "chw-ana", "resolved") for e in exts],
        attempts_without_note=[],
        resolved_without_resolution=[],
        version0=[],
        pending_texts=0,
        receipts={f"n-id-{e}": 1 for e in exts},
    )
    return cases, snap


def test_a_clean_run_passes_the_judgement() -> None:
    cases, snap = good(["c-1", "c-2"])
    checks = cp.judge(cases, snap, channel_crashes=0)
    assert checks.ok() and checks.settled(), checks.lines()


def test_two_effects_from_one_key_fail_the_judgement() -> None:
    cases, snap = good(["c-1", "c-2"])
    snap.sql.attempts["id-c-1"] = 2  # the attempt key applied twice in SQL
    snap.temporal = {
        **snap.temporal,
        row("c-2").workflow_id: TemporalCase(
            "completed",
            state(attempts=[*state().attempts, state().attempts[0].model_copy(update={"seq": 2})]),
        ),
    }
    snap.sql.notices.append(Notice("id-c-1", "n-again", "assigned", "chw-ana", delivered=True))
    snap.sql.rows.append(row("c-3", id="id-c-3b"))  # a row no client asked for
    checks = cp.judge(cases, snap, channel_crashes=0)
    assert not checks.ok()
    text = "\n".join(checks.effects)
    assert "c-1: 2 attempts in SQL from 1 attempt key(s)" in text
    assert "c-2: 2 attempts in Temporal from 1 attempt key(s)" in text
    assert "c-1: notice assigned→chw-ana stored 2x" in text
    assert "c-3: a row no client asked for" in text
    # A resolved case whose client never sent a resolve.
    cases2, snap2 = good(["c-4"])
    cases2[0] = sent("c-4", resolve=False)
    snap2.placed = [p for p in snap2.placed if p.where != "resolution"]
    assert cp.judge(cases2, snap2, channel_crashes=0).effects == ["c-4: resolved with no resolve sent"]


def test_texts_twice_misplaced_foreign_or_by_another_author_fail_the_judgement() -> None:
    cases, snap = good(["c-1", "c-2"])
    snap.placed += [
        cp.Placed("timeline", "c-1", "note of c-1 by chw-ana", "chw-ana", "resolved"),  # twice
        cp.Placed("attempt", "c-2", "resolution of c-1 by chw-ana", "chw-ana", "resolved"),  # wrong case
        cp.Placed("attempt", "c-2", "words nobody wrote", "chw-ana", "resolved"),
    ]
    snap.placed[0] = replace(snap.placed[0], author="chw-ben")  # another author
    checks = cp.judge(cases, snap, channel_crashes=0)
    assert not checks.ok()
    text = "\n".join(checks.texts)
    assert "c-1: one text placed 2x" in text
    assert "c-1: its attempt text placed as timeline" in text
    assert "c-1: its resolve text placed on c-2" in text
    assert "c-2: a attempt text no client wrote" in text
    assert "c-1: its attempt text by chw-ana placed as by chw-ben" in text
    # A resolution on a row that is not resolved, and texts of applied actions that are missing.
    cases, snap = good(["c-3"])
    snap.placed[1] = replace(snap.placed[1], status="attempting")
    snap.attempts_without_note, snap.resolved_without_resolution = ["c-3"], ["c-3"]
    checks = cp.judge(cases, snap, channel_crashes=0)
    assert checks.texts == ["c-3: a resolution on a row that is attempting"]
    assert checks.texts_lost == ["c-3: an attempt without its note", "c-3: resolved without its resolution"]


def test_leftovers_disagreements_and_receiver_duplicates_fail_the_judgement() -> None:
    cases, snap = good(["c-1", "c-2"])
    snap.version0, snap.pending_texts = ["c-1"], 2
    snap.temporal = {
        **snap.temporal,
        row("c-2").workflow_id: TemporalCase("running", state(status="attempting")),
    }
    snap.receipts = {"n-id-c-1": 3, "n-id-c-2": 0}
    snap.arrivals = {"n-id-c-1": [10.0, 70.0, 130.0]}
    snap.worker_deaths = [10.2]  # the first send was followed by a death, the second was not
    checks = cp.judge(cases, snap, channel_crashes=1)
    assert not checks.ok() and not checks.settled()
    assert checks.leftovers == ["c-1: version 0 after the sweep", "2 pending text(s) after the sweep"]
    assert "c-2: status sql='resolved' temporal='attempting'" in checks.disagreements
    assert checks.delivery == ["c-2: n-id-c-2 delivered but never received"]
    assert checks.receiver_duplicates == 2
    assert checks.unexplained == ["n-id-c-1: received 3x, receipt 2 followed by no worker death"]
    # A notice sent again because its sender died before recording it is what a crash costs,
    # also for another send in flight in the same dying process.
    cases, snap = good(["c-1", "c-2"])
    snap.receipts = {"n-id-c-1": 2, "n-id-c-2": 2}
    snap.arrivals = {"n-id-c-1": [10.0, 70.0], "n-id-c-2": [10.1, 70.2]}
    snap.worker_deaths = [10.3]
    checks = cp.judge(cases, snap, channel_crashes=1)
    assert checks.ok(), checks.lines()
    assert checks.receiver_duplicates == 2 and checks.most_per_death == 2


async def test_crash_points_under_load_keep_one_truth() -> None:
    args = argparse.Namespace(
        clients=4,
        seconds=15,
        every=4,
        db="sqlite",
        give_up=60,
        settle=75,
        no_clock_ahead=False,
        wait_sweep=False,
    )
    rc, figures = await cp.drill(args)
    fired = {p: figures.crashes.get(p, 0) for p in cp.API_POINTS + cp.WORKER_POINTS}
    assert all(fired.values()), f"a crash point never fired: {fired}"
    assert figures.crash_exits == sum(fired.values()), (figures.crash_exits, fired)
    assert figures.reconcile_rc == 0, figures.reconcile_lines
    assert not figures.client_errors(), figures.client_errors()
    c = figures.checks
    assert not c.disagreements, c.disagreements
    assert not c.effects, c.effects
    assert not c.texts, c.texts
    assert not c.leftovers, c.leftovers
    assert not c.delivery, c.delivery
    # Each notice received twice follows a worker's death between its send and record; one death
    # can explain several (every send in flight in the dying process), as the judgement says.
    assert not c.unexplained, c.unexplained
    # A resolve applied by Temporal whose request died before the API placed its resolution (and
    # was never repeated) is placed by reconcile's sweep: the resolver's text on the resolved case.
    assert not c.texts_lost, c.texts_lost
    assert rc == 0
