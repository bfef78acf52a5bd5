"""Pausing Python's cycle collector around bulk work.

``verify`` and ``import`` make hundreds of thousands of short-lived rows,
documents and tuples, all freed by reference counting.  While they pile up
they keep triggering the cycle collector, which then rescans every live
object each time: measured, a tenth of ``verify``'s own work and an eighth of
an import's (and a fifth of a re-import's).  Neither makes reference cycles
at that scale, so the collector is paused for the run and resumed after.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Pause the cycle collector for the block (as it was before, after)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
