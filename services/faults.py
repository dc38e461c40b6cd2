"""Named crash points for the drills (``drills/crash_points.py``): a process dies on the spot.

A crash point is one line in the product, ``crash_point("after_text_stored")``, at a moment
where a process dying would leave work half done (the text stored but no update sent, the
update applied but no answer stored, a notice sent but not recorded, a row inserted but no
workflow started). It does nothing unless ``FOLLOWTHROUGH_CRASH_AT`` names it (comma-separated,
read once at import): then every ``FOLLOWTHROUGH_CRASH_EVERY``-th pass through it in this
process (default 1: the first) ends the process with ``os._exit(70)``: no cleanup, no
``finally``, no flush, as a power cut or ``kill -9`` would. A name may carry its own rate,
``after_text_stored:7``. Never set in production; unset, a crash point is one dictionary
lookup on an empty dict.
"""

from __future__ import annotations

import os
import sys
import threading

CRASH_EXIT_CODE = 70  # EX_SOFTWARE: what a drill counts as "died at a crash point"
ENV_AT = "FOLLOWTHROUGH_CRASH_AT"
ENV_EVERY = "FOLLOWTHROUGH_CRASH_EVERY"

POINTS = frozenset(
    {
        "after_text_stored",  # services/common.py with_text: text stashed, update not sent (API)
        "after_update_before_answer",  # api/idempotency.py once: applied, answer not stored (API)
        "after_channel_accepted",  # activities/notifications.py: sent, not recorded (worker)
        "between_insert_and_start",  # services/interactions.py: row committed, no workflow (API)
    }
)


def parse(at: str, every: str) -> dict[str, int]:
    """The armed points and the rate of each: ``"a,b:3"`` with every ``"7"`` → ``{a: 7, b: 3}``.
    An unknown name or a rate below 1 is refused (a drill that arms nothing proves nothing)."""
    default = int(every or "1")
    armed: dict[str, int] = {}
    for item in (part.strip() for part in at.split(",")):
        if not item:
            continue
        name, _, rate = item.partition(":")
        name = name.strip()
        if name not in POINTS:
            raise ValueError(f"{ENV_AT}: unknown crash point {name!r} (known: {', '.join(sorted(POINTS))})")
        n = int(rate) if rate.strip() else default
        if n < 1:
            raise ValueError(f"{ENV_AT}: the rate of {name!r} must be at least 1")
        armed[name] = n
    return armed


_ARMED: dict[str, int] = parse(os.environ.get(ENV_AT, ""), os.environ.get(ENV_EVERY, ""))
_passes: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Die here (``os._exit(70)``) on every n-th pass if ``name`` is armed; otherwise nothing."""
    if not _ARMED:
        return
    every = _ARMED.get(name)
    if every is None:
        return
    with _lock:
        _passes[name] = passes = _passes.get(name, 0) + 1
    if passes % every == 0:
        print(f"crash point {name}: pass {passes}, exiting {CRASH_EXIT_CODE}", file=sys.stderr, flush=True)
        os._exit(CRASH_EXIT_CODE)
