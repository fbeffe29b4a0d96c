"""Holding off Python's cycle collector while kanta builds many long-lived objects at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cycle collector while a copy of (part of) the state is built.

    Every few hundred allocations the collector scans the young objects, and every so
    often the whole heap, which is mostly the state: building a copy of a large state took
    three times as long with it running. The objects built live as long as the state, so
    they go straight to the oldest generation (`freeze` then `unfreeze` moves the young
    objects there without scanning them), unless the application froze objects itself.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
