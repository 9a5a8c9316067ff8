"""The synthesis pipeline holds one synthesis started ahead, for its own experiment only."""

import pytest

from labpilot.agent.loop.pipeline import SynthesisPipeline


def test_a_synthesis_started_ahead_is_taken_once_by_its_experiment() -> None:
    p = SynthesisPipeline()
    assert not p.busy and p.take(4) is None
    p.start(4, lambda: "sample-4")
    assert p.busy and p.take(5) is None
    with pytest.raises(RuntimeError, match="experiment 4"):
        p.start(5, lambda: "sample-5")
    fut = p.take(4)
    assert fut is not None and fut.result(timeout=5) == "sample-4"
    assert not p.busy and p.take(4) is None and p.future() is None
    p.shutdown()
