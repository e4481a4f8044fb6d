"""The cyclic collector and the long-lived heap.

CPython's full (oldest-generation) collection walks every container object the process
holds. Most of them are the modules, classes, models and clients made at startup, which
live as long as the process and are never garbage. Under a connect storm of a thousand
students the host ran about nine full collections of up to 140 ms each, every request in
flight waiting behind each one; the collector's pauses over 2 ms added up to a second.

`gc.freeze()` moves everything alive now into a permanent generation the collector skips,
so a full collection walks only what was made since. Reference counting still frees
frozen objects that are no longer used; only a reference cycle among them stays until the
process ends.

The thresholds: a request's objects die within it, so collecting the youngest generation
after 10,000 allocations instead of 700, and a full collection after a hundred middle ones
instead of ten, frees the same. Frozen and with these thresholds, the same storm's pauses
over 2 ms added up to a quarter of a second (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 20, 100)


def freeze_long_lived() -> int:
    """Sets the thresholds, collects what is garbage now and freezes the rest; returns how
    many objects are frozen. Call it once startup is done, and again after more
    long-lived state was built (a later call moves only what is new)."""
    gc.set_threshold(*THRESHOLDS)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
