"""Building a catalog's tens of thousands of long-lived objects without the cyclic GC re-scanning them."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def building_long_lived_objects() -> Iterator[None]:
    """Pause the cyclic garbage collector while a catalog is built, then file what was built as old.

    A catalog is tens of thousands of small, acyclic models that live as long as the catalog. With the collector
    running, allocating them triggers collections that re-scan the growing heap (~25 % of introspect() time); paused,
    the first collection afterwards would still scan all of them in the young generation (~40 ms at 2,000 tables x 20
    columns) and the middle generation would scan them again, only to free nothing. So, at the end, every tracked
    object moves straight to the oldest generation (gc.freeze then gc.unfreeze: two list splices). Nothing leaves the
    collector's reach: a full collection still finds any cycle. Reference counting frees everything meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()
