"""The many-element world behind ``benchmarks/ae_bo_many_elements.py``: deterministic, sparse, structured."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.worlds.many_elements import ELEMENTS, STEPS, hidden_truth, make_world


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = make_world(n=300, seed=1), make_world(n=300, seed=1), make_world(n=300, seed=2)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and np.array_equal(a.truth, b.truth)
    assert not np.array_equal(a.x, c.x)


def test_compositions_are_distinct_sparse_grid_points_of_eighteen_elements():
    w = make_world(n=500, seed=0)
    assert w.x.shape == (500, 18) and len(ELEMENTS) == 18
    assert np.allclose(w.x.sum(axis=1), 1.0)
    nonzero = (w.x > 0).sum(axis=1)
    assert set(nonzero.tolist()) == {3, 4, 5}
    assert np.allclose(w.x * STEPS, np.round(w.x * STEPS))
    assert len(np.unique(w.x, axis=0)) == 500
    assert (w.x > 0).any(axis=0).all()  # every element is used somewhere


def test_truth_depends_on_the_elements_not_on_their_column_order():
    w = make_world(n=200, seed=0)
    perm = np.random.default_rng(0).permutation(18)
    shuffled = tuple(ELEMENTS[i] for i in perm)
    assert np.allclose(hidden_truth(w.x[:, perm], shuffled), w.truth)  # same compositions, columns reordered
    assert not np.allclose(hidden_truth(w.x, shuffled), w.truth)  # same columns, other elements
    assert np.allclose(hidden_truth(w.x * 3), w.truth)  # fractions are normalized
    assert np.corrcoef(w.truth, w.y)[0, 1] > 0.99  # the noise is small against the spread of the truth


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match="n must be at least 10"):
        make_world(n=3)
