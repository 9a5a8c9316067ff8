"""Prior data (tables, Parquet, a real campaign store) and ``bo``'s multi-task transfer with source selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from labpilot.errors import PlannerError, PriorError
from labpilot.planners import CategoricalParam, ContinuousParam, Objective, Space, Trial, make_planner
from labpilot.planners.acquisitions import canonical
from labpilot.planners.gp import fit_gp, loo_rmse
from labpilot.planners.prior import PriorData, PriorSpec, load_prior, load_priors
from labpilot.planners.transfer import select_sources, zscore

SPACE = Space((ContinuousParam("temperature", 20.0, 120.0), CategoricalParam("solvent", ("DMF", "THF"))))
OBJ = [Objective("yield")]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_table_prior_maps_columns_and_leaves_out_rows_it_cannot_place(tmp_path):
    path = _write(tmp_path, "old.csv", "T,solv,Y,extra\n30,DMF,1.5,x\n60,THF,2.5,y\n90,NMP,3,z\n500,DMF,4,w\n70,DMF,,v\n")
    prior = load_prior(PriorSpec(source=str(path), columns={"T": "temperature", "solv": "solvent", "Y": "yield"}),
                       SPACE, OBJ)
    assert prior.name == "old.csv" and len(prior) == 2 and prior.dropped == 3  # unknown solvent, out of bounds, no value
    np.testing.assert_array_equal(prior.x, [[30, 0], [60, 1]])
    np.testing.assert_array_equal(prior.y[:, 0], [1.5, 2.5])


@pytest.mark.parametrize("spec, field, words", [
    ({"source": "missing.csv"}, "prior[0].source", "no such file"),
    ({"source": "old.csv", "columns": {"Temp": "temperature"}}, "prior[0].columns.Temp", "has no column 'Temp'"),
    ({"source": "old.csv", "columns": {"T": "pressure"}}, "prior[0].columns.T", "neither a parameter"),
    ({"source": "old.csv", "columns": {"T": "temperature"}}, "prior[0].columns", "covers no column for ['solvent']"),
    ({"source": "old.csv", "name": "x", "colums": {}}, "prior[0].colums", "Extra inputs"),
])
def test_bad_prior_entries_name_the_field(tmp_path, monkeypatch, spec, field, words):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "old.csv", "T,yield\n30,1\n40,2\n")
    with pytest.raises(PriorError) as err:
        load_priors([spec], SPACE, OBJ)
    assert err.value.field == field and words in err.value.reason


def test_parquet_prior(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "old.parquet"
    pq.write_table(pa.table({"temperature": [25.0, 50.0, 75.0], "solvent": ["THF", "DMF", "DMF"],
                             "yield": [1.0, 2.0, 3.0]}), path)
    prior = load_prior({"source": str(path), "name": "parquet run"}, SPACE, OBJ)
    assert prior.name == "parquet run" and len(prior) == 3
    np.testing.assert_array_equal(prior.x[:, 1], [1, 0, 0])


def test_an_earlier_campaign_store_is_a_prior_source(tmp_path):
    from labpilot.agent.store import Store

    store = Store.create(tmp_path / "old.db", "old", {}, "")
    for i, (t, v) in enumerate([(30.0, 1.0), (60.0, 2.0), (90.0, 1.5)]):
        eid = store.add_experiment({"T": t, "solvent": "DMF"}, "completed", "planner")
        store.command_sent(f"c{i}", eid, "meter", "measure")
        store.measurement_done(f"c{i}", eid, "meter", {"yield": v, "other": 0.0}, {})
    store.add_experiment({"T": 40.0, "solvent": "DMF"}, "failed", "planner")
    store.close()
    prior = load_prior(PriorSpec(source=str(tmp_path / "old.db"), columns={"T": "temperature"}), SPACE, OBJ)
    assert len(prior) == 3
    np.testing.assert_array_equal(prior.y[:, 0], [1.0, 2.0, 1.5])


def _f(x: np.ndarray) -> np.ndarray:
    return np.sin(5 * x[:, 0]) + np.cos(4 * x[:, 1])


def _g(x: np.ndarray) -> np.ndarray:  # unrelated to _f
    return np.sin(13 * x[:, 1] + 2) * np.cos(9 * x[:, 0])


def _target(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).random((n, 2))
    return x, _f(x)


def _loo0(x: np.ndarray, y: np.ndarray) -> float:
    tx, ty = torch.as_tensor(x), torch.as_tensor(y)
    return loo_rmse(fit_gp(tx, ty), tx, ty) / float(np.std(y))


def test_a_related_source_is_kept_and_an_unrelated_one_is_dropped():
    xt, yt = _target(8)
    xs = np.random.default_rng(1).random((40, 2))
    sources = [("related", torch.as_tensor(xs), 3 * _f(xs) + 5), ("unrelated", torch.as_tensor(xs), _g(xs))]
    choice = select_sources((torch.as_tensor(xt), yt), sources, _loo0(xt, yt), seed=0)
    by_name = {s.name: s for s in choice.sources}
    assert by_name["related"].kept and not by_name["unrelated"].kept
    assert by_name["related"].loo < choice.loo_target
    assert choice.model is not None and "priors kept ['related']" in choice.note()


def test_too_few_target_points_means_no_prior_is_trusted():
    xt, yt = _target(4)
    xs = np.random.default_rng(1).random((20, 2))
    choice = select_sources((torch.as_tensor(xt), yt), [("related", torch.as_tensor(xs), _f(xs))], 0.5, seed=0)
    assert choice.model is None and choice.sources == [] and "fewer than 5" in choice.note()


def test_bo_with_priors_proposes_unused_pool_rows_and_says_which_priors_it_used():
    rng = np.random.default_rng(2)
    space = Space((ContinuousParam("a", 0, 1), ContinuousParam("b", 0, 1)), pool=rng.random((200, 2)))
    xs = rng.random((30, 2))
    unrelated = PriorData("unrelated", "mem", xs, _g(xs)[:, None], ("y",))
    xt, yt = _target(6, seed=3)
    history = [Trial({"a": a, "b": b}, "completed", {"y": v}) for (a, b), v in zip(xt, yt)]
    planner = make_planner("bo", space, [Objective("y")], seed=0, priors=[unrelated])
    props = planner.propose(history, 2)
    assert len(props) == 2 and all("unrelated: LOO" in p.note for p in props)
    assert planner.transfer is not None and planner.transfer.kept == []  # so it planned as plain bo
    taken = {tuple(np.round(r, 9)) for r in xt}
    assert all((round(p.params["a"], 9), round(p.params["b"], 9)) not in taken for p in props)


def test_a_planner_without_prior_support_is_refused_by_name():
    prior = PriorData("p", "mem", np.zeros((2, 2)), np.zeros((2, 1)), ("y",))
    space = Space((ContinuousParam("a", 0, 1), ContinuousParam("b", 0, 1)))
    with pytest.raises(PlannerError, match="planner 'random' does not use prior data"):
        make_planner("random", space, [Objective("y")], priors=[prior])


def test_zscore_of_a_constant_column_is_zero():
    np.testing.assert_array_equal(zscore(np.array([2.0, 2.0, 2.0])), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("name, expected", [("logei", "logei"), ("qlognei", "logei"), ("ucb", "ucb"), ("qucb", "ucb")])
def test_one_acquisition_vocabulary(name, expected):
    assert canonical("bo", name) == expected
    space = Space((ContinuousParam("a", 0, 1), ContinuousParam("b", 0, 1)))
    assert make_planner("bo", space, [Objective("y")], options={"acquisition": name}).opts["acquisition"] == expected
    assert make_planner("ae-bo", space, [Objective("y")], options={"acquisition": name}).acquisition == expected


def test_options_spell_acquisitions_exactly_and_check_the_transfer_rule():
    space = Space((ContinuousParam("a", 0, 1), ContinuousParam("b", 0, 1)))
    for planner in ("bo", "ae-bo"):  # the option models are strict: one spelling per name or alias
        with pytest.raises(PlannerError, match=r"planner\.options\.acquisition: must be 'logei', 'ucb'"):
            make_planner(planner, space, [Objective("y")], options={"acquisition": "UCB"})
    with pytest.raises(PlannerError, match=r"planner\.options\.transfer_margin"):
        make_planner("bo", space, [Objective("y")], options={"transfer_margin": 1.0})
    with pytest.raises(PlannerError, match=r"planner\.options\.transfer_min_target"):
        make_planner("bo", space, [Objective("y")], options={"transfer_min_target": 2})
    bo = make_planner("bo", space, [Objective("y")], options={"transfer_min_correlation": -1, "transfer_max_prior": 50})
    assert bo.opts["transfer_min_correlation"] == -1 and bo.opts["transfer_max_prior"] == 50


def test_campaign_prior_entries_are_checked_by_validate(tmp_path, monkeypatch):
    from labpilot.agent.campaign import loads_campaign
    from labpilot.agent.preflight import preflight

    monkeypatch.chdir(tmp_path)
    text = (Path(__file__).parents[2] / "campaigns" / "alloy_magnetization.toml").read_text()
    _write(tmp_path, "old.csv", "Fe,Co,Ni,Ir,Pt,M\n0.5,0.5,0,0,0,1.5\n0.2,0.2,0.2,0.2,0.2,1.0\n")
    bad = loads_campaign(text + '\n[[prior]]\nsource = "old.csv"\n')
    assert ("prior[0].columns", ) == tuple(p for p, _ in preflight(bad) if p.startswith("prior"))
    good = loads_campaign(text + '\n[[prior]]\nsource = "old.csv"\ncolumns = { M = "magnetization" }\n')
    assert not [p for p in preflight(good) if p[0].startswith("prior") or p[0].startswith("planner")]
    refused = loads_campaign(text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
                             + '\n[[prior]]\nsource = "old.csv"\ncolumns = { M = "magnetization" }\n')
    assert ("planner.name", "planner 'random' does not use prior data; drop the [[prior]] entries or use bo") \
        in preflight(refused)
