"""``ae-bo``'s choice of what the GP works on (module docstring, step 3): parameters, latent, or descriptors."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.worlds.many_elements import make_world
from labpilot.planners.base import Trial, make_planner
from labpilot.planners.space import ContinuousParam, Objective, SimplexConstraint, Space

WORLD = make_world(n=200, seed=3)
TABLE = WORLD.table()
OBJ = Objective("activity", "maximize")
CHEAP = {"ae_steps": 30}


def trials(rows) -> list[Trial]:
    return [Trial(dict(zip(TABLE.inputs, map(float, TABLE.x[i]))), "completed", {"activity": float(TABLE.y[i])})
            for i in rows]


def test_six_element_simplex_uses_the_parameters_and_trains_no_autoencoder():
    names = ("Ni", "Fe", "Co", "Mn", "Ce", "La")
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in names), (SimplexConstraint(names),))
    planner = make_planner("ae-bo", space, [OBJ], seed=0, options={"n_candidates": 300})
    assert planner.free_params == 5 and planner.representation == "parameters"
    rng = np.random.default_rng(0)
    hist = [Trial(dict(zip(names, map(float, r))), "completed", {"activity": float(r[0])})
            for r in rng.dirichlet(np.ones(6), 4)]
    prop = planner.propose(hist, 1)[0]
    assert "not compressed: plain bo" in prop.note and planner._ae is None and planner.reconstruction_errors == {}


def test_on_a_six_element_pool_ae_bo_proposes_exactly_what_bo_proposes():
    names = ("Ni", "Fe", "Co", "Mn", "Ce", "La")
    pool = np.random.default_rng(1).dirichlet(np.ones(6), 150)
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in names), pool=pool)
    value = pool @ np.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.0]) + 0.2 * pool[:, 0] * pool[:, 2]
    hist = [Trial(dict(zip(names, map(float, pool[i]))), "completed", {"activity": float(value[i])})
            for i in (3, 17, 40, 41, 90)]
    ae = make_planner("ae-bo", space, [OBJ], seed=4).propose(hist, 2)
    bo = make_planner("bo", space, [OBJ], seed=4).propose(hist, 2)  # bo's own defaults (UCB on rank-warped values)
    assert [p.params for p in ae] == [p.params for p in bo]
    assert ae[0].note.endswith(bo[0].note)
    # what the campaign sets for ae-bo reaches bo; what it does not set is bo's default, not ae-bo's
    ae = make_planner("ae-bo", space, [OBJ], seed=4, options={"acquisition": "logei"}).propose(hist, 2)
    bo = make_planner("bo", space, [OBJ], seed=4, options={"acquisition": "logei"}).propose(hist, 2)
    assert [p.params for p in ae] == [p.params for p in bo] and ae[0].note.endswith(bo[0].note)
    assert "rank" in bo[0].note or make_planner("bo", space, [OBJ], seed=4).opts["output_warp"] == "rank"


def test_eighteen_elements_that_do_not_compress_use_the_descriptors():
    planner = make_planner("ae-bo", TABLE.space, [OBJ], seed=0, options=CHEAP)
    assert planner.free_params == 18 and planner.representation is None  # decided by the autoencoder
    assert planner.representation_choice() == "descriptors"
    err = planner.reconstruction_errors[8]
    assert err > planner.max_error and list(planner.reconstruction_errors) == [8]  # no smaller size tried
    assert planner.latent_dim == 36  # 4 statistics x 9 element properties


def test_descriptors_that_do_compress_use_the_smallest_latent_that_reconstructs_them():
    planner = make_planner("ae-bo", TABLE.space, [OBJ], seed=0, options={**CHEAP, "max_reconstruction_error": 10.0})
    assert planner.representation_choice() == "latent"
    assert planner.latent_dim == 3 and sorted(planner.reconstruction_errors) == [3, 8]


def test_an_explicit_latent_size_always_compresses():
    planner = make_planner("ae-bo", TABLE.space, [OBJ], seed=0, options={**CHEAP, "latent_dim": 4})
    assert planner.representation_choice() == "latent" and planner.latent_dim == 4
    assert planner.reconstruction_errors[4] > planner.max_error  # compressed although it loses information


@pytest.mark.parametrize("options", [CHEAP, {**CHEAP, "latent_dim": 3}])
def test_proposals_are_distinct_unmeasured_pool_rows_and_reproducible(options):
    measured, pending = [0, 5, 9, 20, 33, 41], [60]
    hist = trials(measured) + [Trial(dict(zip(TABLE.inputs, map(float, TABLE.x[60]))), "pending", {})]
    props = make_planner("ae-bo", TABLE.space, [OBJ], seed=2, options=options).propose(hist, 3)
    rows = [tuple(p.params[n] for n in TABLE.inputs) for p in props]
    pool = {tuple(r): i for i, r in enumerate(TABLE.x.tolist())}
    assert all(r in pool for r in rows) and len(set(rows)) == 3
    assert not {pool[r] for r in rows} & set(measured + pending)
    again = make_planner("ae-bo", TABLE.space, [OBJ], seed=2, options=options).propose(hist, 3)
    assert [p.params for p in again] == [p.params for p in props]
    assert ("descriptors" in props[0].note) == ("latent_dim" not in options)
