"""History and space encoding shared by the planners."""

from __future__ import annotations

import numpy as np
import pytest

from labpilot.errors import PlannerError
from labpilot.planners import CategoricalParam, ContinuousParam, IntegerParam, Objective, SimplexConstraint, Space, Trial
from labpilot.planners.encoding import Encoder, project_simplex, split_history, taken_mask, validate_space

MIXED = Space(
    (
        ContinuousParam("fe", 0.1, 0.9),
        ContinuousParam("co", 0.0, 0.5),
        ContinuousParam("ni", 0.0, 0.5),
        IntegerParam("passes", 1, 4),
        CategoricalParam("gas", ("Ar", "N2", "O2")),
    ),
    (SimplexConstraint(("fe", "co", "ni")),),
)


def test_features_are_unit_cube_with_one_hot_and_round_trip() -> None:
    enc = Encoder(MIXED)
    row = MIXED.to_row({"fe": 0.5, "co": 0.3, "ni": 0.2, "passes": 3, "gas": "N2"})
    feats = enc.to_features(row[None])
    assert enc.n_features == 7
    assert np.allclose(feats, [[0.5, 0.6, 0.4, 2 / 3, 0, 1, 0]])
    assert np.allclose(enc.to_rows(feats), row[None])


def test_equality_constraint_holds_on_encoded_feasible_points() -> None:
    enc = Encoder(MIXED)
    (cols, coef, rhs), = enc.equality_constraints()
    row = MIXED.to_row({"fe": 0.25, "co": 0.45, "ni": 0.30, "passes": 1, "gas": "Ar"})
    feats = enc.to_features(row[None])[0]
    assert float((feats[cols.numpy()] * coef.numpy()).sum()) == pytest.approx(rhs)


def test_decoding_repairs_simplex_integers_and_categoricals() -> None:
    enc = Encoder(MIXED)
    rows = enc.to_rows(np.array([[0.9, 0.9, 0.9, 0.4, 0.2, 0.7, 0.1]]))
    point = MIXED.to_point(rows[0])
    assert MIXED.contains(point) == []
    assert point["passes"] == 2 and point["gas"] == "N2"


def test_projection_is_feasible_and_nearest() -> None:
    rng = np.random.default_rng(0)
    low, high = np.array([0.1, 0.0, 0.0, 0.0]), np.array([0.9, 0.5, 0.5, 0.2])
    v = rng.uniform(-0.5, 1.5, size=(200, 4))
    x = project_simplex(v, low, high, 1.0)
    assert np.allclose(x.sum(axis=1), 1.0) and (x >= low - 1e-12).all() and (x <= high + 1e-12).all()
    # no random feasible point is closer than the projection
    from labpilot.planners.random_planner import sample_simplex

    others = sample_simplex(low, high, 1.0, 2000, rng)
    for i in range(0, 200, 20):
        assert np.linalg.norm(v[i] - x[i]) <= np.linalg.norm(v[i] - others, axis=1).min() + 1e-9
    assert np.allclose(project_simplex(x, low, high, 1.0), x)  # feasible points stay put


def test_taken_mask_on_a_large_pool_is_exact() -> None:
    rng = np.random.default_rng(1)
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in "abcd"), pool=rng.uniform(size=(200_000, 4)))
    idx = rng.choice(200_000, 500, replace=False)
    mask = taken_mask(space, space.pool, space.pool[idx])
    assert mask.sum() == 500 and mask[idx].all()
    near = space.pool[idx[:5]] + 1e-3  # different points, not taken
    assert not taken_mask(space, near, space.pool[idx]).any()


def test_split_history_sorts_statuses_and_treats_missing_values_as_failed() -> None:
    objs = [Objective("m")]
    p = {"fe": 0.5, "co": 0.3, "ni": 0.2, "passes": 1, "gas": "Ar"}
    hist = [
        Trial(p, "completed", {"m": 1.0}),
        Trial(p, "completed", {"m": float("nan")}),
        Trial(p, "failed"),
        Trial(p, "pending"),
        Trial(p, "rejected"),
    ]
    data = split_history(MIXED, objs, hist)
    assert (len(data.x), len(data.failed), len(data.pending), len(data.rejected)) == (1, 2, 1, 1)
    assert "trial 1" in data.notes[0]
    assert len(data.taken) == 5


def test_history_errors_name_the_trial_and_the_problem() -> None:
    objs = [Objective("m")]
    with pytest.raises(PlannerError, match="unknown status 'done'"):
        split_history(MIXED, objs, [Trial({"fe": 0.5, "co": 0.3, "ni": 0.2, "passes": 1, "gas": "Ar"}, "done")])
    with pytest.raises(PlannerError, match="trial 0: parameter 'gas' is missing"):
        split_history(MIXED, objs, [Trial({"fe": 0.5, "co": 0.3, "ni": 0.2, "passes": 1}, "completed")])
    with pytest.raises(PlannerError, match="trial 0: cannot encode"):
        split_history(MIXED, objs, [Trial({"fe": 0.5, "co": 0.3, "ni": 0.2, "passes": 1, "gas": "He"}, "pending")])


@pytest.mark.parametrize(
    "space, message",
    [
        (Space((ContinuousParam("a", 0, 1),), pool=np.zeros((3, 2))), "one column per parameter"),
        (Space((ContinuousParam("a", 0, 1),), pool=np.array([[np.nan]])), "NaN"),
        (Space((ContinuousParam("a", 1, 0),)), "above upper bound"),
        (Space((IntegerParam("a", 0, 3), ContinuousParam("b", 0, 1)), (SimplexConstraint(("a", "b")),)), "only continuous"),
        (Space((ContinuousParam("a", 0, 1),), (SimplexConstraint(("a", "z")),)), "'z', which is not a parameter"),
        (Space((ContinuousParam("a", 0, 1), ContinuousParam("a", 0, 1))), "duplicate parameter names"),
    ],
)
def test_bad_spaces_are_refused_with_reason(space: Space, message: str) -> None:
    with pytest.raises(PlannerError, match=message):
        validate_space(space)
