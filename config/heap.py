"""The worker's garbage collector, set for a heap of long-lived workflow instances.

A worker holds up to ``worker_max_cached_workflows`` workflow instances, each with its own module,
classes and state (the sandbox imports a workflow's module again for every instance), and creates
and drops thousands an hour. CPython's cyclic collector, left at its defaults, collects the youngest
generation every 700 net allocations and, every 100 of those, walks the whole heap again: the
modules, classes and definitions loaded at start included, which never die. In the 17:00 herd
(bench P3, ``perf`` on the worker) the collector was 7 % of the worker's CPU.

``settle_heap`` runs once, when the worker has imported and built everything it serves with:
what is alive then lives as long as the process, so it is moved out of the collector's sight
(``gc.freeze``), and the youngest generation is collected every ``YOUNG_THRESHOLD`` allocations
(objects that die within a workflow task are then freed by reference counting, not promoted and
walked again). Cyclic garbage waits a little longer to be freed: bench P7 measures the memory.
"""

from __future__ import annotations

import gc

# Net allocations between two collections of the youngest generation (CPython's default: 700).
YOUNG_THRESHOLD = 20_000
# Collections of one generation between two of the next (CPython's defaults: 10 and 10).
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def settle_heap() -> None:
    """Collect once, freeze what is left (the process's modules, classes and definitions) and
    collect the young less often. Call once per process, after start-up, before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
