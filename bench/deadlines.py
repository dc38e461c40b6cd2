"""Deadline math throughput: ``due_at`` on a prepared calendar vs ``response_due`` from config.

Run: ``.venv/bin/python -m bench.deadlines``. Prints per-call times and the ratio against the
baseline measured in the same run (``response_due``, which also builds the calendar).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta

from domain.calendar import BusinessCalendar
from domain.deadlines import due_at, response_due
from domain.models import TeamConfig

TEAM = TeamConfig.model_validate(
    {
        "name": "bench",
        "calendar": {
            "timezone": "America/Chicago",
            "hours": {
                "mon": [["09:00", "17:00"]],
                "tue": [["09:00", "17:00"]],
                "wed": [["09:00", "12:00"], ["13:00", "17:00"]],
                "thu": [["09:00", "17:00"]],
                "fri": [["09:00", "17:00"]],
            },
            "holiday_country": "US",
            "closures": ["2026-12-24"],
        },
    }
)
N = 5_000


def _instants(n: int) -> list[datetime]:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [start + timedelta(minutes=rng.randrange(0, 365 * 24 * 60)) for _ in range(n)]


def _time(fn: object, instants: list[datetime]) -> float:
    t0 = time.perf_counter()
    for i, at in enumerate(instants):
        fn(at, ("call", "voicemail", "text")[i % 3], i % 5 == 0)  # type: ignore[operator]
    return (time.perf_counter() - t0) / len(instants)


def main() -> None:
    instants = _instants(N)
    cal = BusinessCalendar.from_config(TEAM.calendar, around=date(2026, 6, 1))
    baseline = _time(lambda at, ch, u: response_due(at, ch, urgent=u, team=TEAM), instants)
    prepared = _time(lambda at, ch, u: due_at(at, ch, urgent=u, calendar=cal, policy=TEAM.policy), instants)
    print(f"calls per variant: {N}")
    print(f"baseline response_due (builds calendar): {baseline * 1e6:8.1f} µs/call")
    print(f"due_at on a prepared calendar (workflow path): {prepared * 1e6:8.1f} µs/call")
    print(f"ratio baseline/prepared: {baseline / prepared:6.2f}x")


if __name__ == "__main__":
    main()
