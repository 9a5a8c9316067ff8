"""A film-campaign database with known results, for the dashboard tests of the "best" line (real SQLite store).

Hardness (GPa) is maximized and, with two objectives, roughness (nm)
minimized. The results are chosen so the answers are known: the best
hardness is experiment 2's 12.5 GPa, the least roughness experiment 3's
1.25 nm, and experiments 1, 2 and 3 are the Pareto front (4 is beaten by 1
on both, 5 failed).
"""

from __future__ import annotations

from pathlib import Path

from labpilot.agent import store as st
from labpilot.agent.campaign import loads_campaign
from labpilot.agent.store import Store
from labpilot.testing.campaigns import film_campaign, film_simulation
from tests.conftest import REPO

MODEL = REPO / "campaigns" / "sim" / "film_model.py"
#: experiment -> (hardness GPa, roughness nm); None: failed
RESULTS: dict[int, tuple[float, float] | None] = {1: (10.0, 5.0), 2: (12.5, 8.0), 3: (8.0, 1.25), 4: (9.0, 6.0), 5: None}


def film_results(path: Path, objectives: dict[str, str]) -> Path:
    """A stored film campaign with ``objectives`` whose experiments ended as in ``RESULTS``."""
    text = film_campaign(MODEL, [film_simulation(MODEL, delay=1.0, max_parallel=2)], name="film-results",
                         budget=8, objectives=objectives)
    camp = loads_campaign(text)
    store = Store.create(path, camp.name, camp.model_dump(mode="json"), text)
    for eid, result in RESULTS.items():
        assert store.add_experiment({"power_w": 100.0 + eid, "pressure_pa": 0.5, "temperature_c": 200.0},
                                    st.MEASURING, "planner", planner="random") == eid
        cid = f"{store.campaign()['uid']}-e{eid}-simulation"
        store.command_sent(cid, eid, "simulation", "measure")
        if result is None:
            store.command_failed(cid, "diverged")
            store.update_experiment(eid, status=st.FAILED, error="simulation: diverged", event="failed")
            continue
        store.measurement_done(cid, eid, "simulation", {"hardness": result[0], "roughness": result[1]}, {})
        store.update_experiment(eid, status=st.COMPLETED, event="completed")
    store.close()
    return path
