"""``frozen_heap``: what is alive when a run starts is out of the collector's sight during it, and only then."""

from __future__ import annotations

import gc

from labpilot.agent.loop.heap import frozen_heap
from labpilot.planners.base import Trial


def test_the_heap_alive_at_the_start_is_frozen_for_the_block_and_handed_back_after() -> None:
    history = [Trial(params={"x": i / 100}, status="completed") for i in range(100)]
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() >= len(history)
        assert not any(gc.is_tracked(t) and t in gc.get_objects(generation=2) for t in history[:3])
        gc.collect()  # a full collection leaves frozen objects alone, and what is referenced stays
        assert all(t.status == "completed" for t in history)
    assert gc.get_freeze_count() == 0
    assert any(t is history[0] for t in gc.get_objects(generation=2))


def test_a_heap_frozen_by_someone_else_stays_frozen() -> None:
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == before > 0  # theirs to undo, not the run's
    finally:
        gc.unfreeze()
