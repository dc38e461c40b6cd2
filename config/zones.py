"""Time-zone rules come from the pinned ``tzdata`` package only, never the operating system.

Python's ``zoneinfo`` looks for a zone in ``zoneinfo.TZPATH`` (the system's
``/usr/share/zoneinfo`` and friends) before the ``tzdata`` package. Deadlines, business hours and
contact windows are computed in workflows and replayed later, possibly on another machine or image:
a zone-rule update of the operating system would move the deadlines of running cases, or make a
replayed history diverge from what was recorded. The rules must change only when ``tzdata`` is
bumped in the lockfile (a reviewed change, like any workflow code change).

Every process the project starts sets ``PYTHONTZPATH`` empty (Makefile, Dockerfile, compose,
Kubernetes manifests). ``pin_tzdata`` is the guard for a process started any other way: importing
the ``config`` package (which the CLI, the API and the worker import before anything creates a
``ZoneInfo``) empties the search path, so every zone resolves from ``tzdata``. It runs outside the
workflow sandbox; inside it ``zoneinfo`` is passed through, so workflows see the same (empty) path.
"""

from __future__ import annotations

import importlib.util
import zoneinfo


def pin_tzdata() -> None:
    """Empty ``zoneinfo.TZPATH`` so zones come from the ``tzdata`` package only.

    Must run before the first ``ZoneInfo`` is created: instances are cached by key, and one made
    from the system's files would stay in the cache. Fails loudly if ``tzdata`` is missing (every
    zone lookup would fail later, in the middle of a workflow task)."""
    if importlib.util.find_spec("tzdata") is None:
        raise RuntimeError("the tzdata package is not installed: time-zone rules come from it only")
    if zoneinfo.TZPATH:
        zoneinfo.reset_tzpath(to=[])
