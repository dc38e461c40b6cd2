"""What one escalation notice's member reads cost in a team with a history: the safety-inhibition
check (``store.repositories.open_safety_escalation``) and the daily cap's attempt count
(``services.members.member_attempt_times``), per notice, on an SQLite file holding CASES resolved
cases of as many members, with ``ix_interactions_member`` (migration 0021) and, as the same-run
baseline, with that index dropped (the reads of main before 0021).

Run: ``python -m bench.member_index [--cases 1000 50000] [--repeat 200]``. INFO figures (no target):
milliseconds per notice with the index and without, and their ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.common import TEAM, report, seed_history
from services.members import member_attempt_times
from store.db import make_engine
from store.migrate import upgrade
from store.repositories import open_safety_escalation

AT = datetime(2026, 12, 7, 17, tzinfo=UTC)


def per_notice(cases: int, repeat: int, *, index: bool) -> float:
    """Milliseconds for one notice's two member reads, ``cases`` cases in the team."""
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{Path(d) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            if not index:
                with engine.begin() as conn:
                    conn.execute(text("DROP INDEX ix_interactions_member"))
            seed_history(url, cases)
            step = max(1, cases // repeat)
            with Session(engine) as s:
                t0 = time.perf_counter()
                for i in range(repeat):
                    k = (i * step) % cases
                    open_safety_escalation(s, f"hist-{k:06}")
                    member_attempt_times(s, TEAM, f"mem-hist-{k:06}", AT - timedelta(days=1))
                return (time.perf_counter() - t0) / repeat * 1000
        finally:
            engine.dispose()


def main(args: argparse.Namespace) -> int:
    for cases in args.cases:
        without = per_notice(cases, args.repeat, index=False)
        with_index = per_notice(cases, args.repeat, index=True)
        report(
            "MEMBER-INDEX",
            None,
            f"{cases} cases in the team: a notice's member reads {with_index:.2f} ms with "
            f"ix_interactions_member, {without:.2f} ms without (same run), ratio {without / with_index:.1f}",
        )
    return 0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, nargs="+", default=[1000, 50000])
    p.add_argument("--repeat", type=int, default=200)
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(main(parse()))
