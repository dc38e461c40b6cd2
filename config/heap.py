"""The worker's garbage collector, kept off what lives as long as the process.

A worker holds up to ``worker_max_cached_workflows`` workflow instances (the sandbox imports a
workflow's module again for each) and creates and drops thousands an hour, so CPython's cyclic
collector runs often, and each of its full collections walked everything the process loaded at
start as well: modules, classes, the workflows' definitions, about 150,000 objects that never die.
In the 17:00 herd (bench P3 under ``perf``) the collector was 7 % of the worker's CPU.

``settle_heap`` runs once, when the worker has imported and built everything it serves with: it
collects, then moves what is alive out of the collector's sight (``gc.freeze``). The thresholds
stay CPython's: collecting the old generation less often made the garbage of evicted instances
pile up (bench P7: 818 MB at 10,000 open cases with the youngest generation collected every
20,000 allocations instead of 700), and collecting it on a timer instead cost as much as it saved.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect once and freeze what is left (the process's modules, classes and definitions).
    Call once per process, after start-up, before serving."""
    gc.collect()
    gc.freeze()
