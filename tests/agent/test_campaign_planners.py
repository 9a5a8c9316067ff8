"""Every planner runs from a campaign file, on the history the agent builds from its store."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from labpilot.agent import store as st
from labpilot.agent.campaign import parse_campaign
from labpilot.agent.history import planner_history
from labpilot.agent.store import Store
from labpilot.planners.base import make_planner
from labpilot.simulators.worlds.alloy import AlloyWorld

PLANNERS = {
    "random": {},
    "bo": {},
    "mobo": {},
    "range": {},
    "uncertainty": {},
    "ae-bo": {"latent_dim": 2, "ae_steps": 50, "n_candidates": 500},
    "used": {"descriptor": "xrd", "n_candidates": 500},
    "boed": {"descriptor": "xrd", "n_candidates": 2000},
}


def _campaign(name: str, options: dict, alloy_campaign_file: Path):  # noqa: ANN202
    data = tomllib.loads(alloy_campaign_file.read_text())
    data["planner"] = {"name": name, "batch_size": 2, "options": options}
    if name == "mobo":
        data["objectives"].append({"name": "peak_two_theta", "direction": "minimize"})
    if name == "range":
        data["objectives"][0].update(low=1800.0, high=1900.0)
    return parse_campaign(data)


def _store_with_history(tmp_path: Path, campaign, n: int = 12) -> Store:  # noqa: ANN001
    """A store holding ``n`` completed alloy experiments, as a dry run would leave it."""
    world = AlloyWorld(3)
    rng = np.random.default_rng(0)
    store = Store.create(tmp_path / "c.db", campaign.name, campaign.model_dump(mode="json"), "")
    two_theta = np.linspace(20, 90, 1001)
    for i, frac in enumerate(rng.dirichlet(np.ones(5), n)):
        params = dict(zip(["Fe", "Co", "Ni", "Ir", "Pt"], (frac * [1, 1, 0.5, 0.2, 0.2] / (frac * [1, 1, 0.5, 0.2, 0.2]).sum()).tolist()))
        truth = world.deposit({k: 100 * v / world.nominal_rates()[k] for k, v in params.items()}, 1800.0)
        eid = store.add_experiment(params, st.APPROVED, "initial")
        counts = world.xrd_pattern(truth, two_theta, rng)
        store.command_sent(f"x{i}", eid, "xrd", "measure")
        store.measurement_done(f"x{i}", eid, "xrd", {"peak_two_theta": float(two_theta[np.argmax(counts)])},
                               {"two_theta": two_theta, "counts": counts})
        store.command_sent(f"m{i}", eid, "magnetometer", "measure")
        store.measurement_done(f"m{i}", eid, "magnetometer", {"magnetization": world.magnetization(truth, rng)}, {})
        store.update_experiment(eid, status=st.COMPLETED)
    store.add_experiment(params, st.REJECTED, "planner")  # the last point again, rejected by an operator
    return store


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_planner_runs_from_the_campaign_file(name: str, tmp_path: Path, alloy_campaign_file: Path) -> None:
    campaign = _campaign(name, PLANNERS[name], alloy_campaign_file)
    store = _store_with_history(tmp_path, campaign)
    history = planner_history(store, [o.name for o in campaign.objectives], with_arrays=True)
    assert history[0].measured["xrd"].shape == (1001,)
    planner = make_planner(campaign.planner.name, campaign.space(), campaign.planner_objectives(),
                           seed=campaign.seed, options=campaign.planner.options)
    proposals = planner.propose(history, campaign.planner.batch_size)
    assert len(proposals) == 2
    space = campaign.space()
    seen = {tuple(np.round(space.to_row(t.params), 9)) for t in history}
    for p in proposals:
        assert space.contains(p.params) == [], p.params
        assert tuple(np.round(space.to_row(p.params), 9)) not in seen
