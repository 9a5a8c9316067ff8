"""``ParetoFront``, kept one result at a time, counts the same front as ``front_size`` over all results.

Property-tested on small integer grids (ties and duplicates are common there), with missing objectives and NaNs.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as hs

from labpilot.agent.pareto import ParetoFront, front_size

_value = hs.one_of(hs.integers(0, 4).map(float), hs.just(float("nan")))
_result = hs.dictionaries(hs.sampled_from(["a", "b", "c"]), _value, min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(results=hs.lists(_result, max_size=40), directions=hs.lists(hs.sampled_from(["maximize", "minimize"]),
                                                                   min_size=3, max_size=3))
def test_the_incremental_front_counts_what_front_size_counts(results: list[dict], directions: list[str]) -> None:
    for names in (["a", "b"], ["a", "b", "c"]):
        objectives = [{"name": n, "direction": d} for n, d in zip(names, directions)]
        front = ParetoFront(objectives)
        for i, r in enumerate(results):
            front.add(r)
            assert len(front) == front_size(results[:i + 1], objectives)
