"""The mutation run (`make mutate`, docs/testing.md): mutmut over domain/, services/access.py and
the workflows' decision code, against the fast unit tests named in pyproject's [tool.mutmut];
then the figures per target, killed / (killed + survived), and every survivor not accepted.

    python scripts/mutate.py [--max-children 1] [--report-only]

mutmut writes its copy of the code, its results and its log under mutants/ (git-ignored). The
accepted survivors (equivalent mutants, with their reasons) are in ACCEPTED below and in
docs/testing.md; a survivor not listed there is a missing test. Exit 1 when a target is under
its threshold.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"

# The workflows' decision code: the pure functions and the state-only methods the workflows decide
# with (tests/workflows/test_decisions.py runs them without a server). Handlers, validators and the
# timer loop itself need a Temporal server: the workflow tests cover them, not this run.
WORKFLOW_DECISIONS = [
    "workflows.common.x_rejection",
    "workflows.common.x_conflict",
    "workflows.common.x_denied",
    "workflows.common.x_invalid",
    "workflows.common.xǁTimerLoopǁ_patched",
    "workflows.common.xǁTimerLoopǁ_history_full",
    "workflows.interaction.xǁInteractionWorkflowǁ_next_wake",
    "workflows.interaction.xǁInteractionWorkflowǁ_status",
    "workflows.interaction.xǁInteractionWorkflowǁ_answer",
    "workflows.interaction_escalations.x_open_escalation",
    "workflows.interaction_timers.x_timer_summary",
    "workflows.interaction_contact.x_hold_for_contact",
    "workflows.interaction_contact.x_retry_wait_reason",
    "workflows.interaction_contact.x_contact_marks",
    "workflows.interaction_projection.x_whole_state_delta",
    "workflows.interaction_projection.x_state_columns",
    "workflows.interaction_projection.x__failure",
    "workflows.interaction_projection.x__refused",
    "workflows.interaction_projection.x__differs",
    "workflows.escalation.xǁEscalationWorkflowǁ_wake",
    "workflows.escalation.xǁEscalationWorkflowǁ_after",
    "workflows.escalation.xǁEscalationWorkflowǁ_level",
    "workflows.escalation.xǁEscalationWorkflowǁ_when",
    "workflows.escalation.x__describe",
]

# target -> (mutant name patterns, threshold)
TARGETS: dict[str, tuple[list[str], float]] = {
    "domain/": (["domain.*"], 0.90),
    "services/access.py": (["services.access.*"], 0.90),
    "workflows (decision code)": ([f"{name}__mutmut_*" for name in WORKFLOW_DECISIONS], 0.80),
}

# Survivors accepted: equivalent mutants (no test can tell them from the code), with the reason;
# docs/testing.md lists them too. Mutant numbers follow the code: after a change to a function,
# check its survivors again.
# One survivor per unindented line, its reason on the indented lines below it.
_ACCEPTED = """
services.access.x_require_escalation_actor__mutmut_18
    the action 'acknowledge' renamed: may_act_on_escalation treats every action but 'resolve' and
    'assign' alike, so any other name acknowledges
services.access.x_require_escalation_actor__mutmut_19
    as above ('ACKNOWLEDGE')
services.access.x_require_escalation_assigner__mutmut_7
    the action 'assign' as None: without a level and not 'resolve', may_act_on_escalation refuses
    everyone but leads, managers and the system either way
services.access.x_require_escalation_assigner__mutmut_13
    as above ('XXassignXX')
services.access.x_require_escalation_assigner__mutmut_14
    as above ('ASSIGN')
services.access.x_require_escalation_assigner__mutmut_9
    the actor id as None for 'assign': refused either way unless the role decides
domain.inbound.x_e164__mutmut_1
    `and` for `or` in the '+' check: a number without '+' is refused by phonenumbers.parse with no
    region anyway (NumberParseException, None)
domain.inbound.x__folded_words__mutmut_2
    the words joined by 'XX XX' instead of ' ': body and phrases are folded the same way, and the
    upper-case separator can never match a case-folded phrase's letters
domain.deadlines.x_referral_due__mutmut_26
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.deadlines.x_referral_due__mutmut_28
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.repeat_contacts.x_deadline_after_contact__mutmut_12
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.repeat_contacts.x_deadline_after_contact__mutmut_14
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.inbound.x_e164__mutmut_9
    `phonenumbers.parse(number)` without the region: its default is None
domain.calendar.x__require_aware__mutmut_6
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.calendar.xǁBusinessCalendarǁ__init____mutmut_8
    `is_end=None` for a start: falsy like False
domain.calendar.xǁBusinessCalendarǁ__init____mutmut_11
    `is_end=True` for a start only lets '24:00' through, and the snapshot's hours refuse a 24:00
    start already (`_check_hours`)
domain.calendar.xǁBusinessCalendarǁ_iter_open__mutmut_3
    the scan starts on the machine's date, not the team's: with the machine ahead of the team that
    skips only the spare day kept for DST folds, whose intervals end before the start anyway
domain.calendar.xǁBusinessCalendarǁ_iter_open__mutmut_15
    `>` for `>=` at the stop: one more day is looked at when the stop is a local midnight; its
    intervals start at or after the stop, and callers stop at the first interval
domain.calendar.xǁBusinessCalendarǁ_local__mutmut_11
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.calendar.xǁBusinessCalendarǁ_utc_day__mutmut_1
    the day cache not read: the day is worked out again, the same
domain.calendar.xǁBusinessCalendarǁ_utc_day__mutmut_2
    the day cache read under None: a miss, worked out again
domain.calendar.xǁBusinessCalendarǁ_utc_day__mutmut_39
    None cached: read back as a miss, worked out again
domain.calendar.xǁBusinessCalendarǁadd_open_minutes__mutmut_32
    the message of an unreachable raise (`pragma: no cover`)
domain.calendar.xǁBusinessCalendarǁnext_open_instant__mutmut_14
    the message of an unreachable raise (`pragma: no cover`)
domain.calendar.xǁBusinessCalendarǁis_open__mutmut_14
    a stop 2 µs after the instant instead of 1: the scan stops at day boundaries, so the same days
    are read
domain.calendar.xǁBusinessCalendarǁopen_minutes_between__mutmut_15
    `b < a` for `b <= a`: an empty span counts 0 minutes through the loop too
domain.calendar.xǁBusinessCalendarǁopen_minutes_between__mutmut_31
    `hi >= lo`: adds a zero-length piece
domain.checkins.x_checkins_on__mutmut_4
    `and` for `or`: a day's opening and close are None together (both from its intervals)
domain.checkins.x_checkins_on__mutmut_8
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.checkins.x_checkins_on__mutmut_9
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.checkins.x_checkins_on__mutmut_20
    `>` for `>=`: when 'before close' falls on the opening it is dropped as a repeat of the opening
    anyway
domain.checkins.x_next_checkin__mutmut_9
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.checkins.x_next_checkin__mutmut_22
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.contact.x__local_at__mutmut_19
    the wall time normalised through the machine's zone instead of UTC: the same instant, then put
    in the member's zone
domain.contact.x_in_window__mutmut_13
    seconds scaled by 1/1000001: the minute value stays below the next whole minute, and windows are
    whole minutes
domain.contact.x_in_window__mutmut_14
    seconds divided by 61: as above
domain.contact.x_next_contact_instant__mutmut_6
    `<` for `<=`: when not_before equals at, both give at
domain.contact.x_next_window_opening__mutmut_23
    `>=` for `>`: at the opening instant the window is open and `at` is answered before
domain.deadlines.x__same_day_due__mutmut_7
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.deadlines.x__same_day_due__mutmut_9
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.deadlines.x_due_at__mutmut_9
    `urgent=None`: falsy like False
domain.deadlines.x_due_soon_at__mutmut_9
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.deadlines.x_earliest__mutmut_6
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.deadlines.x_is_overdue__mutmut_5
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.deadlines.x_is_overdue__mutmut_7
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.deadlines.x_sla_met__mutmut_2
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.deadlines.x_sla_met__mutmut_4
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.errors.x_from_type__mutmut_7
    the fallback key '' as 'XXXX': neither is a known type, both give Conflict
domain.escalations.x_ladder_deadline__mutmut_15
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
domain.grouping.x_plan_deliveries__mutmut_25
    the order due groups are flushed in: every due group is flushed in the same pass and the
    deliveries are sorted at the end
domain.grouping.x_plan_deliveries__mutmut_27
    as above (min without a key)
domain.grouping.x_plan_deliveries__mutmut_29
    as above (min by the recipient's first letter)
domain.grouping.x_plan_deliveries__mutmut_30
    as above (min by the flush reason)
domain.models.x__check_hours__mutmut_2
    `any_open = None`: falsy like False
domain.models.x__check_hours__mutmut_9
    `is_end=None`: falsy like False
domain.models.x__check_time_zone__mutmut_2
    'localtime' is not refused by name, but zones come from tzdata only (config/zones.py) and it has
    no 'localtime': refused as unknown, with the same message
domain.models.x__check_time_zone__mutmut_3
    as above ('LOCALTIME')
domain.models.x_default_escalation_rule__mutmut_18
    `documentation_required=True` dropped: True is the field's default
workflows.interaction_projection.x__differs__mutmut_4
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
workflows.interaction_projection.x__differs__mutmut_6
    the machine's zone for UTC in a value only compared or added to (aware datetimes compare and add
    by instant)
workflows.interaction.xǁInteractionWorkflowǁ_answer__mutmut_5
    `>=` for `>`: exactly ANSWER_ATTEMPTS attempts sliced to the last ANSWER_ATTEMPTS are the same
    list
workflows.interaction.xǁInteractionWorkflowǁ_next_wake__mutmut_14
    the due-soon wake's tie-break rank 1 for 0: it is a candidate only when strictly before the
    deadline, so it never ties
workflows.interaction.xǁInteractionWorkflowǁ_next_wake__mutmut_18
    the deadline's rank 2 for 1: at the same instant as the retry, 'overdue' still sorts first by
    name
workflows.interaction.xǁInteractionWorkflowǁ_next_wake__mutmut_25
    the retry's rank 3 for 2: as above
"""


def _accepted(text: str) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for line in text.strip().splitlines():
        if line.startswith(" "):
            found[next(reversed(found))].append(line.strip())
        else:
            found[line] = []
    return {name: " ".join(words) for name, words in found.items()}


ACCEPTED = _accepted(_ACCEPTED)

KILLED = {1, 3}
TIMEOUT = {-24, 24, 152, 255, 36}
SURVIVED = {0}
NO_TESTS = {5, 33}


def results() -> dict[str, int | None]:
    """Every mutant's exit code, from mutmut's .meta files."""
    out: dict[str, int | None] = {}
    for meta in MUTANTS.rglob("*.meta"):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def target_of(name: str) -> str | None:
    for target, (patterns, _) in TARGETS.items():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return target
    return None


def report(elapsed: float | None) -> int:
    by_target: dict[str, Counter[str]] = {t: Counter() for t in TARGETS}
    survivors: dict[str, list[str]] = {t: [] for t in TARGETS}
    for name, code in sorted(results().items()):
        target = target_of(name)
        if target is None:
            continue
        if code in KILLED:
            kind = "killed"
        elif code in TIMEOUT:
            kind = "timeout"
        elif code in SURVIVED:
            kind = "survived"
            survivors[target].append(name)
        elif code in NO_TESTS:
            kind = "no tests"
        elif code is None:
            kind = "not checked"
        else:
            kind = f"other ({code})"
        by_target[target][kind] += 1
    failed = 0
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    took = f", run {elapsed / 60:.1f} min" if elapsed is not None else ""
    print(f"\nmutation figures ({when}{took}); score = (killed + timeout) / (killed + timeout + survived)")
    print(f"{'target':28} {'killed':>7} {'timeout':>8} {'survived':>9} {'accepted':>9} {'no tests':>9} score")
    for target, (_, threshold) in TARGETS.items():
        c = by_target[target]
        caught = c["killed"] + c["timeout"]
        judged = caught + c["survived"]
        score = caught / judged if judged else 0.0
        accepted = sum(1 for n in survivors[target] if n in ACCEPTED)
        ok = score >= threshold
        failed += not ok
        others = {k: v for k, v in c.items() if k not in ("killed", "timeout", "survived", "no tests")}
        print(
            f"{target:28} {c['killed']:>7} {c['timeout']:>8} {c['survived']:>9} {accepted:>9} "
            f"{c['no tests']:>9} {score:6.1%} (>= {threshold:.0%}: {'ok' if ok else 'NO'})"
            + (f" {others}" if others else "")
        )
    for target in TARGETS:
        open_ = [n for n in survivors[target] if n not in ACCEPTED]
        if open_:
            print(f"\nsurvivors not accepted in {target} (each a missing test, or a reason for ACCEPTED):")
            for name in open_:
                print(f"  {name}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=int(os.environ.get("MUTATE_CHILDREN", "1")))
    parser.add_argument("--report-only", action="store_true", help="print the figures of the last run")
    args = parser.parse_args()
    elapsed = None
    if not args.report_only:
        mutmut = Path(sys.executable).parent / "mutmut"
        patterns = [p for pats, _ in TARGETS.values() for p in pats]
        # A fresh run: mutmut caches results and which tests cover which function, and would not
        # see a test written since.
        shutil.rmtree(MUTANTS, ignore_errors=True)
        MUTANTS.mkdir()
        log = MUTANTS / "mutmut-run.log"
        print(f"mutmut run --max-children {args.max_children} over {len(patterns)} patterns (log: {log})")
        started = time.monotonic()
        with log.open("w") as out:
            # The machine's zone is not UTC for the run (+05:45, no DST), so a computation that
            # slips into it (``astimezone(None)``) shows: the rules promise the same answers on any
            # machine (config/zones.py). The tests pass under any zone.
            env = {**os.environ, "PYTHONTZPATH": "", "TZ": "Asia/Kathmandu"}
            env.pop("PYTHONPATH", None)  # the tests import the mutated copy in mutants/
            done = subprocess.run(
                [str(mutmut), "run", "--max-children", str(args.max_children), *patterns],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        elapsed = time.monotonic() - started
        if done.returncode != 0:
            print(f"mutmut run failed (exit {done.returncode}); see {log}")
            return done.returncode
    return report(elapsed)


if __name__ == "__main__":
    sys.exit(main())
