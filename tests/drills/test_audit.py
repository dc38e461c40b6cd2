"""The drills' audit judges a run by Temporal's state, case by case (issue 27): its comparison
must report a row that says more than the workflow, so a drill cannot pass on SQL alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from domain.ids import interaction_workflow_id
from domain.messages import AttemptRecord, InteractionState
from drills import inbound_storm
from drills.common import (
    TEAM,
    Disagreement,
    Notice,
    SqlCase,
    SqlSide,
    TemporalCase,
    compare,
    free_port,
    judge,
)
from drills.webhook_outage import Receiver

WHEN = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def row(ext: str, **kw: Any) -> SqlCase:
    """A resolved row of the drills' lifecycle (one attempt, version 3), changed by ``kw``."""
    resolved = SqlCase(
        external_id=ext,
        id=f"id-{ext}",
        workflow_id=interaction_workflow_id(TEAM, ext),
        status="resolved",
        assignee_id="chw-ana",
        version=3,
        attempt_count=1,
    )
    return replace(resolved, **kw)


def state(**kw: object) -> InteractionState:
    attempt = AttemptRecord.model_validate(
        {"attempt_id": "att-1", "seq": 1, "outcome": "reached", "staff_id": "chw-ana", "at": WHEN}
    )
    fields: dict[str, object] = {
        "interaction_id": "id-x",
        "team_id": TEAM,
        "channel": "call",
        "received_at": WHEN,
        "due_at": WHEN,
        "status": "resolved",
        "assignee_id": "chw-ana",
        "attempts": [attempt],
        "version": 3,
    }
    fields.update(kw)
    return InteractionState.model_validate(fields)


def test_a_resolved_row_whose_workflow_still_runs_attempting_is_a_disagreement() -> None:
    """Issue 27: SQL says resolved (version 3), Temporal never applied the resolve."""
    got = compare("sr-1", row("sr-1"), TemporalCase("running", state(status="attempting", version=2)))
    assert got == [
        Disagreement("sr-1", "status", "resolved", "attempting"),
        Disagreement("sr-1", "version", 3, 2),
    ]


def test_a_running_workflow_is_compared_on_assignee_and_attempts_too() -> None:
    wf = TemporalCase("running", state(status="attempting", assignee_id="chw-ben", attempts=[]))
    got = compare("sr-2", row("sr-2", status="attempting"), wf)
    assert {(d.field, d.sql, d.temporal) for d in got} == {
        ("assignee_id", "chw-ana", "chw-ben"),
        ("attempts", 1, 0),
    }


def test_agreeing_sides_give_no_disagreement() -> None:
    assert compare("a", row("a"), TemporalCase("completed", state())) == []
    running = TemporalCase("running", state(status="attempting", version=2))
    assert compare("b", row("b", status="attempting", version=2), running) == []
    assert compare("lost", None, TemporalCase("not_found")) == []


def test_a_closed_run_needs_a_resolved_row_and_a_resolved_result() -> None:
    got = compare("c", row("c", status="attempting"), TemporalCase("completed", state()))
    assert [(d.field, d.sql) for d in got] == [("status", "attempting")]
    got = compare("d", row("d"), TemporalCase("completed", state(status="open")))
    assert [(d.field, d.temporal) for d in got] == [("result.status", "open")]


def test_any_other_run_state_is_a_disagreement() -> None:
    for execution in ("failed", "terminated", "timed_out", "canceled", "not_found", "unreadable"):
        got = compare("e", row("e"), TemporalCase(execution))
        assert [(d.field, d.sql, d.temporal) for d in got] == [("execution", "resolved", execution)]
    # A running workflow that does not answer its query cannot be said to agree.
    assert [d.field for d in compare("f", row("f"), TemporalCase("running", error="timeout"))] == ["state"]
    # A workflow without a row: the row is lost and the sides disagree.
    assert compare("g", None, TemporalCase("running", state())) == [
        Disagreement("g", "row", "missing", "running")
    ]


def test_the_audit_fails_and_names_each_case_that_temporal_and_sql_disagree_on() -> None:
    """The whole judgement, not only the comparison: SQL alone is clean here (every row resolved,
    one attempt, one delivered notice each), yet the audit fails on the Temporal side."""
    rows = [row("sr-1"), row("sr-2"), row("sr-3")]
    sql = SqlSide(
        rows=rows,
        attempts={r.id: 1 for r in rows},
        notices=[Notice(r.id, f"k-{r.id}", "assigned", "chw-ana", delivered=True) for r in rows],
    )
    temporal = {
        rows[0].workflow_id: TemporalCase("completed", state()),
        rows[1].workflow_id: TemporalCase("running", state(status="attempting", version=2)),
        rows[2].workflow_id: TemporalCase("terminated"),
        interaction_workflow_id(TEAM, "sr-4"): TemporalCase("not_found"),
    }
    a = judge(["sr-1", "sr-2", "sr-3", "sr-4"], sql, temporal)
    assert not a.ok() and not a.settled()
    assert a.lost == ["sr-4"] and a.resolved == 3 and a.not_resolved == []
    assert sorted({d.external_id for d in a.disagreements}) == ["sr-2", "sr-3"]
    assert "disagreements=3" in a.line() and "lost=1" in a.line()
    details = "\n".join(a.details())
    assert "disagreement sr-2: status sql='resolved' temporal='attempting'" in details
    assert "disagreement sr-2: version sql=3 temporal=2" in details
    assert "disagreement sr-3: execution sql='resolved' temporal='terminated'" in details
    # With the workflows agreeing (and the lost case found), the same SQL passes.
    temporal[rows[1].workflow_id] = TemporalCase("completed", state())
    temporal[rows[2].workflow_id] = TemporalCase("completed", state())
    assert judge(["sr-1", "sr-2", "sr-3"], sql, temporal).settled()


def test_duplicates_and_undelivered_notices_are_counted_per_case_where_they_land() -> None:
    rows = [row("w-1"), row("w-2"), row("w-3")]
    sql = SqlSide(
        rows=rows,
        attempts={r.id: 1 for r in rows},
        notices=[
            Notice(rows[0].id, "k1", "assigned", "chw-ana", delivered=True),
            Notice(rows[1].id, "k2", "assigned", "chw-ana", delivered=True),
            Notice(rows[2].id, "k3", "assigned", "chw-ana", delivered=False),
        ],
    )
    temporal = {r.workflow_id: TemporalCase("completed", state()) for r in rows}
    a = judge([r.external_id for r in rows], sql, temporal, receipts={"k1": 2})
    assert a.duplicate == {"w-1": ["k1 received 2x"]}
    assert sorted(a.undelivered) == ["w-2", "w-3"]  # never received; not delivered
    assert a.undelivered_notices == 2 and not a.ok()
    # Without a receiver, the outbox is all there is: one notice stored twice for a case.
    sql.notices.append(Notice(rows[0].id, "k1-again", "assigned", "chw-ana", delivered=True))
    b = judge([r.external_id for r in rows], sql, temporal)
    assert b.duplicate == {"w-1": ["assigned→chw-ana stored 2x"]}
    assert list(b.undelivered) == ["w-3"] and dict(b.assigned_notices) == {2: 1, 1: 2}


def test_the_webhook_receiver_counts_each_notice_key_of_what_it_receives() -> None:
    """Where ``webhook_outage`` counts duplicates: each notice in a body, single or grouped."""
    receiver = Receiver(free_port())
    receiver.up()
    try:
        single = {"id": "k1", "recipient_id": "chw-ana", "notifications": [{"key": "k1"}]}
        group = {"id": "dlv-1", "recipient_id": "chw-ana", "notifications": [{"key": "k1"}, {"key": "k2"}]}
        for key, body in (("k1", single), ("dlv-1", group)):
            r = httpx.post(receiver.url, json=body, headers={"Idempotency-Key": key})
            assert r.status_code == 204
    finally:
        receiver.down()
    assert receiver.notice_receipts() == {"k1": 2, "k2": 1}
    assert dict(receiver.keys) == {"k1": 1, "dlv-1": 1}


# ---------------------------------------------------------------- the inbound storm's oracle
def storm_plan() -> inbound_storm.Plan:
    """Two members: Ann calls (then leaves a voicemail on the call), texts, and texts STOP;
    Bo texts, is reached by a CHW, calls again and texts START after a STOP."""
    ann, bo = inbound_storm.storm_members(2)

    def hook(seq: int, at: float, member: str, kind: inbound_storm.Kind, sid: str) -> inbound_storm.Hook:
        route: Literal["voice", "messaging"] = "voice" if sid.startswith("CA") else "messaging"
        return inbound_storm.Hook(
            seq, at, member, kind, sid, route, {}, phase=int(member == bo.id and at > 5)
        )

    hooks = [
        hook(0, 1.0, ann.id, "call", "CA1"),
        hook(1, 2.0, ann.id, "voicemail", "CA1"),
        hook(2, 3.0, ann.id, "text", "SM1"),
        hook(3, 4.0, ann.id, "stop", "SM2"),
        hook(4, 1.0, bo.id, "text", "SM3"),
        hook(5, 2.0, bo.id, "stop", "SM4"),
        hook(6, 6.0, bo.id, "call", "CA2"),
        hook(7, 7.0, bo.id, "start", "SM5"),
        hook(8, 8.0, bo.id, "answered", "CA3"),
        hook(9, 2.5, ann.id, "call", "CA1"),  # an exact repeat of the missed call
    ]
    hooks[-1].retry_of = 0
    return inbound_storm.Plan([ann, bo], hooks, 10.0, reach={bo.id: 5.0})


def storm_case(
    member: str, sids: set[str], *, status: str = "open", contacts: int | None = None
) -> inbound_storm.Case:
    first = sorted(sids)[0]
    sql = replace(row(f"twilio:{first}"), id=f"id-{member}-{first}", status=status)
    return inbound_storm.Case(sql, member, len(sids) if contacts is None else contacts, set(sids))


def consent(status: str, sid: str) -> dict[str, Any]:
    return {"consent": {"text": {"status": status, "source": f"STOP (twilio message {sid})"}}}


def storm_verdict(
    cases: list[inbound_storm.Case], profiles: dict[str, Any] | None = None
) -> inbound_storm.Verdict:
    plan = storm_plan()
    ann, bo = (m.id for m in plan.members)
    got = {ann: consent("refused", "SM2"), bo: consent("granted", "SM5")} if profiles is None else profiles
    return inbound_storm.judge(plan, cases, got)


def test_the_storm_oracle_passes_what_the_events_call_for() -> None:
    ann, bo = (m.id for m in storm_plan().members)
    good = [
        storm_case(ann, {"CA1", "SM1"}),
        storm_case(bo, {"SM3"}, status="resolved"),
        storm_case(bo, {"CA2"}),
    ]
    v = storm_verdict(good)
    assert v.ok(), v.details()
    assert (v.open_cases, v.resolved_cases) == (2, 1)


def test_the_storm_oracle_names_duplicates_double_counts_losses_and_unheeded_keywords() -> None:
    ann, bo = (m.id for m in storm_plan().members)
    # Ann's text opened a second case at the same moment as her call (the first-contact race).
    v = storm_verdict(
        [
            storm_case(ann, {"CA1"}),
            storm_case(ann, {"SM1"}),
            storm_case(bo, {"SM3"}, status="resolved"),
            storm_case(bo, {"CA2"}),
        ]
    )
    assert [e.split(":")[0] for e in v.duplicate] == [ann] and v.race_members() == {ann}
    assert v.others() == []  # what follows from the duplicate is not counted apart
    # The voicemail merged into the case its own call opened: contacts 3 for two Sids.
    twice = storm_case(ann, {"CA1", "SM1"}, contacts=3)
    twice.self_merged = True
    v = storm_verdict([twice, storm_case(bo, {"SM3"}, status="resolved"), storm_case(bo, {"CA2"})])
    assert len(v.double_counted) == 1 and v.race_members() == {ann}
    # Bo's call after the reach lost; his START not honoured; Ann's text counted once too few.
    v = storm_verdict(
        [storm_case(ann, {"CA1", "SM1"}, contacts=1), storm_case(bo, {"SM3"}, status="resolved")],
        {ann: consent("refused", "SM2"), bo: consent("refused", "SM4")},
    )
    assert v.lost == [f"{bo}: CA2"]
    assert [e.split(":")[0] for e in v.missing_open] == [bo]
    assert [e.split(":")[0] for e in v.consent_wrong] == [bo]
    assert len(v.wrong_contacts) == 1 and not v.ok() and v.race_members() == set()
    # The answered call opened a case; the reached case was never resolved.
    v = storm_verdict([storm_case(ann, {"CA1", "SM1"}), storm_case(bo, {"SM3", "CA2", "CA3"})])
    assert f"{bo}: CA3 is on a case" in v.stray
    assert [e.split(":")[0] for e in v.wrong_reach] == [bo]
