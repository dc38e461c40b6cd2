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
    "workflows.interaction.xǁInteractionWorkflowǁ_open_escalation",
    "workflows.interaction.xǁInteractionWorkflowǁ_answer",
    "workflows.interaction.xǁInteractionWorkflowǁ_timer_summary",
    "workflows.interaction.xǁInteractionWorkflowǁ_retry_wait_reason",
    "workflows.interaction.xǁInteractionWorkflowǁ_hold_for_contact",
    "workflows.interaction.x__contact_marks",
    "workflows.interaction.x_whole_state_delta",
    "workflows.interaction.x_state_columns",
    "workflows.interaction.x__failure",
    "workflows.interaction.x__refused",
    "workflows.interaction.x__differs",
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

# Survivors accepted, with the reason (docs/testing.md lists them too). Mutant numbers follow the
# code: after a change to a function, check its survivors again.
ACCEPTED: dict[str, str] = {
    "services.access.x_current_level__mutmut_3": "equivalent: `rule.get('levels', None)`: no levels "
    "reads {} either way (`if levels`)",
    "services.access.x_current_level__mutmut_5": "equivalent: `rule.get('levels')`: as above",
}

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
