"""Planners over a campaign's pool table: rows named by id, modelled through descriptors, never twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from labpilot.errors import PlannerError
from labpilot.planners.base import Trial, make_planner
from labpilot.planners.pool_planner import ROW, IndexedHistory, PoolPlanner, index_space
from labpilot.planners.pool_table import read_pool
from labpilot.planners.random_planner import initial_design
from labpilot.planners.space import ContinuousParam, Objective, Space

N, D = 400, 6


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> tuple[Space, np.ndarray]:
    """A pool whose objective is a function of the descriptors only (the parameter x is noise)."""
    rng = np.random.default_rng(0)
    desc = rng.random((N, D))
    path = tmp_path_factory.mktemp("pool") / "pool.csv"
    with path.open("w") as f:
        f.write("pid,x," + ",".join(f"d_{j}" for j in range(D)) + "\n")
        for i in range(N):
            f.write(f"M{i},{rng.random():.4f}," + ",".join(f"{v:.6f}" for v in desc[i]) + "\n")
    params = Space((ContinuousParam("x", 0, 1),))
    table = read_pool(path, "pid", params, ["d_*"])
    return Space(params.params, candidates=table), desc


def _values(desc: np.ndarray, pid: str) -> dict[str, float]:
    d = desc[int(pid[1:])]
    return {"y": float(-((d - 0.3) ** 2).sum()), "z": float(d[0] - d[1] ** 2)}


@pytest.mark.parametrize("name, objectives", [
    ("bo", [Objective("y")]),
    ("random", [Objective("y")]),
    ("uncertainty", [Objective("y")]),
    ("range", [Objective("y", low=-0.3, high=0.0)]),
    ("mobo", [Objective("y"), Objective("z")]),
])
def test_each_pool_planner_proposes_unused_rows_by_id(pool, name, objectives):
    space, desc = pool
    planner = make_planner(name, space, objectives, seed=3)
    assert isinstance(planner, PoolPlanner) and planner.name == name
    history = [Trial(p, "completed", _values(desc, p["pid"])) for p in initial_design(space, 4, seed=3)]
    history.append(Trial(space.candidates.point(10), "pending"))
    history.append(Trial(space.candidates.point(11), "rejected"))
    history.append(Trial(space.candidates.point(12), "failed"))
    for _ in range(2):
        proposals = planner.propose(history, k=2)
        for p in proposals:
            assert set(p.params) == {"pid", "x"} and space.contains(p.params) == []
            assert p.params["pid"] not in {t.params["pid"] for t in history}
            history.append(Trial(p.params, "completed", _values(desc, p.params["pid"])))
    assert len({t.params["pid"] for t in history}) == len(history)
    if name != "random":
        assert proposals[0].predicted is not None


def test_the_model_sees_the_descriptors_not_the_parameters(pool):
    space, desc = pool
    planner = make_planner("bo", space, [Objective("y")], seed=0)
    enc = planner.inner.encoder
    assert enc.n_features == D
    feats = enc.pool_tensor(index_space(space.candidates).pool)
    assert feats.dtype == torch.float32  # scored in float32 chunks, never copied to float64 whole
    assert feats.data_ptr() == torch.from_numpy(space.candidates.features).data_ptr()
    scaled = (desc - desc.min(0)) / (desc.max(0) - desc.min(0))
    np.testing.assert_allclose(enc.to_features(np.array([[5.0]])), scaled[5:6], atol=1e-6)


@pytest.mark.slow
def test_bo_on_descriptors_beats_random_rows_on_average(pool):
    """Honest check that the descriptors reach the model: after 10 experiments bo's best beats random's."""
    space, desc = pool
    best = {}
    for name in ("bo", "random"):
        scores = []
        for seed in range(2):
            planner = make_planner(name, space, [Objective("y")], seed=seed)
            history = [Trial(p, "completed", _values(desc, p["pid"])) for p in initial_design(space, 4, seed=seed)]
            while len(history) < 10:
                p = planner.propose(history, k=1)[0]
                history.append(Trial(p.params, "completed", _values(desc, p.params["pid"])))
            scores.append(max(t.values["y"] for t in history))
        best[name] = float(np.mean(scores))
    assert best["bo"] > best["random"], best


def test_history_ids_the_pool_lacks_are_named(pool):
    space, _ = pool
    planner = make_planner("random", space, [Objective("y")])
    with pytest.raises(PlannerError, match="'M9999' is not a row"):
        planner.propose([Trial({"pid": "M9999", "x": 0.1}, "completed", {"y": 1.0})])
    with pytest.raises(PlannerError, match="no 'pid'"):
        planner.propose([Trial({"x": 0.1}, "completed", {"y": 1.0})])


def test_the_indexed_history_looks_up_only_new_trials_and_names_their_position(pool):
    """Between proposals an unchanged trial keeps its inner object (so the inner planner re-encodes only what changed)."""
    space, desc = pool
    indexed = IndexedHistory(space.candidates)
    history = [Trial(space.candidates.point(i), "completed", _values(desc, f"M{i}")) for i in range(5)]
    first = indexed(history)
    assert [t.params[ROW] for t in first] == [0, 1, 2, 3, 4]
    history[2] = Trial(history[2].params, "failed")
    history.append(Trial(space.candidates.point(7), "pending"))
    second = indexed(history)
    assert [a is b for a, b in zip(first, second)] == [True, True, False, True, True]
    assert (second[2].status, second[5].params[ROW]) == ("failed", 7)
    with pytest.raises(PlannerError, match="history trial 6: pid 'M9999' is not a row"):
        indexed([*history, Trial({"pid": "M9999", "x": 0.1}, "pending")])
    assert [t.params[ROW] for t in indexed(history[:3])] == [0, 1, 2]  # a shorter history is its own


def test_initial_design_avoids_taken_rows_and_runs_out_cleanly(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("id,d\n" + "".join(f"{i},{i}\n" for i in range(5)))
    table = read_pool(path, "id", Space(()), ["d"])
    space = Space((), candidates=table)
    first = initial_design(space, 3, seed=1)
    assert all(set(p) == {"id"} for p in first)
    rest = initial_design(space, 2, seed=1, taken=first)
    assert {p["id"] for p in rest}.isdisjoint({p["id"] for p in first})
    with pytest.raises(PlannerError, match="only 0 pool rows are unused"):
        initial_design(space, 1, seed=1, taken=first + rest)
    assert index_space(table).params[0].name == ROW


@pytest.mark.parametrize("name", ["ae-bo", "used", "boed"])
def test_planners_that_cannot_plan_rows_are_refused_by_name(pool, name):
    space, _ = pool
    with pytest.raises(PlannerError, match=f"planner '{name}' cannot plan over a candidate pool"):
        make_planner(name, space, [Objective("y")])


@pytest.mark.parametrize("shortlist", [1, 50])
def test_the_float32_screen_skips_excluded_rows_and_picks_as_on_the_rest(shortlist):
    """A descriptor pool is scored in place with its used rows masked: same pick as scoring only the others."""
    from labpilot.planners.gp import fit_gp
    from labpilot.planners.pool_predict import predictor
    from labpilot.planners.pool_select import select

    rng = np.random.default_rng(2)
    x = torch.as_tensor(rng.uniform(size=(60, 3)))
    y = torch.sin(5 * x[:, 0]) + x[:, 1]
    model = fit_gp(x, y)
    feats = torch.as_tensor(rng.uniform(size=(4000, 3)), dtype=torch.float32)

    def fn(mean, std, believed):
        return (mean + 2.0 * std).sum(dim=-1)

    empty = torch.zeros(0, 3, dtype=torch.float64)
    best = select(predictor(model), model, feats, empty, 1, fn, shortlist, np.random.default_rng(0)).picks[0][0]
    exclude = torch.zeros(4000, dtype=torch.bool)
    exclude[best] = True
    exclude[::3] = True
    masked = select(predictor(model), model, feats, empty, 2, fn, shortlist, np.random.default_rng(0), exclude=exclude)
    keep = torch.nonzero(~exclude).reshape(-1)
    plain = select(predictor(model), model, feats[keep], empty, 2, fn, shortlist, np.random.default_rng(0))
    assert [i for i, _ in masked.picks] == [int(keep[i]) for i, _ in plain.picks]
    assert masked.certified and not any(bool(exclude[i]) for i, _ in masked.picks)
