"""Generic instruments after a crash: ``command`` and ``python`` cannot reconcile, so the operator resolves.

A killed agent cannot know whether a program or a function it started
finished. The restart marks those outcomes unknown (nothing is run twice);
``labpilot resolve`` takes the values a generic measurer declares in its
options; the queue shows, at once, predictions, the unknown outcomes and the
manual step waiting for ``labpilot done``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labpilot.agent import machine as sm
from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign
from labpilot.agent.cli.main import main
from labpilot.agent.loop.runner import CampaignRunner, Stop
from labpilot.agent.store import Store
from tests.conftest import CAMPAIGNS

SIM = CAMPAIGNS / "simulation_loop.toml"
POINT = {"power_w": 120.0, "pressure_pa": 0.5, "temperature_c": 200.0}


@pytest.fixture
def faulted(tmp_path: Path) -> Path:
    """Experiment 1 killed while its simulation (command) ran, 2 while its film (python) was made; restarted."""
    campaign = load_campaign(SIM)
    db = tmp_path / "sim.db"
    s = Store.create(db, campaign.name, campaign.model_dump(mode="json"), SIM.read_text())
    uid = s.campaign()["uid"]
    e1 = s.add_experiment(POINT, st.APPROVED, "initial", "space-filling")
    e2 = s.add_experiment({**POINT, "power_w": 200.0}, st.APPROVED, "initial", "space-filling")
    e3 = s.add_experiment({**POINT, "power_w": 90.0}, st.AWAITING_APPROVAL, "planner", "bo",
                          reason="highest expected improvement", predicted={"hardness": [4.25, 0.5]})
    s.update_experiment(e1, status=st.SYNTHESIZING)
    s.command_sent(f"{uid}-e{e1}-film", e1, "film", "synthesize")
    s.synthesis_done(f"{uid}-e{e1}-film", e1, "film-1", {"params": POINT})
    s.update_experiment(e1, status=st.MEASURING)
    s.command_sent(f"{uid}-e{e1}-simulation", e1, "simulation", "measure")
    s.update_experiment(e2, status=st.SYNTHESIZING)
    s.command_sent(f"{uid}-e{e2}-film", e2, "film", "synthesize")
    # a manual review of another experiment was asked for and not yet confirmed
    s.log_event("manual_requested", e3, command_id=f"{uid}-e{e3}-review", instrument="review", action="measure",
                instructions="Inspect film film-3 and count visible defects", params={}, sample_id="film-3",
                values={"defects": "count"})
    s.set_state(sm.PLANNING)
    s.set_state(sm.MEASURING)
    runner = CampaignRunner(campaign, s, {}, poll_s=0.01)
    with pytest.raises(Stop):
        runner._recover_unknown_outcomes()  # what `labpilot run` does right after connecting
    s.close()
    return db


def test_a_crash_during_a_command_or_python_step_asks_the_operator(faulted: Path, capsys) -> None:
    store = Store.open(faulted)
    try:
        assert store.campaign()["state"] == "faulted"
        assert [e.id for e in store.experiments((st.OUTCOME_UNKNOWN,))] == [1, 2]
        assert {c["instrument"] for c in store.commands("unknown")} == {"simulation", "film"}
        assert not store.commands("sent")  # nothing a later start could run a second time
    finally:
        store.close()
    assert main(["queue", "--db", str(faulted)]) == 0
    out = capsys.readouterr().out
    assert "WAITING FOR OPERATOR: experiment 3 on review (measure)" in out
    assert "labpilot done 3 --value defects=NUMBER" in out
    assert "predicted hardness (GPa) 4.25 ± 0.5" in out and "why: highest expected improvement" in out
    assert "2 experiment(s) whose outcome is unknown" in out and "#1    measure on simulation" in out
    assert main(["status", "--db", str(faulted)]) == 0
    out = capsys.readouterr().out
    assert "OUTCOME UNKNOWN: experiment 2 (synthesize on film" in out and "WAITING FOR OPERATOR" in out


def test_resolve_takes_the_values_a_generic_measurer_declares_in_its_options(faulted: Path, capsys) -> None:
    assert main(["resolve", "1", "--made", "--db", str(faulted)]) == 2
    assert "simulation measures hardness, roughness" in capsys.readouterr().err
    assert main(["resolve", "1", "--made", "--value", "defects=1", "--db", str(faulted)]) == 2
    assert "values.defects: simulation does not measure 'defects'" in capsys.readouterr().err
    assert main(["resolve", "1", "--made", "--value", "hardness=3.5", "--value", "roughness=1.25",
                 "--db", str(faulted)]) == 0
    assert main(["resolve", "2", "--made", "--sample", "film-2", "--db", str(faulted)]) == 0
    capsys.readouterr()
    store = Store.open(faulted)
    try:
        assert store.experiment(1).scalars == {"hardness": 3.5, "roughness": 1.25}
        assert store.measured_instruments(1) == {"simulation"}  # the review (manual) is still to be done
        assert (store.experiment(2).status, store.experiment(2).sample_id) == (st.SYNTHESIZED, "film-2")
        actions = [(e["data"]["cmd"], e["data"]["ok"]) for e in store.events(kind="operator_action")]
        assert actions == [("resolve", False), ("resolve", False), ("resolve", True), ("resolve", True)]
    finally:
        store.close()


def test_the_dashboard_shows_the_unknown_outcomes_and_the_manual_step(faulted: Path) -> None:
    from starlette.testclient import TestClient

    from labpilot.agent.web.app import create_app
    from labpilot.agent.web.catalog import Catalog
    from labpilot.agent.web.security import Guard

    app = create_app(Catalog([str(faulted)]), Guard(token=None, loopback_only=True))
    html = TestClient(app, base_url="http://127.0.0.1:8787").get("/c/sim").text
    assert "OUTCOME UNKNOWN: experiment 1 (measure on simulation" in html
    assert "labpilot resolve 2 --made --sample SAMPLE_ID" in html
    assert "WAITING FOR OPERATOR: experiment 3 on review (measure)" in html
    assert "labpilot done 3 --value defects=NUMBER" in html
    assert "hardness (GPa): 4.25 ± 0.5" in html  # the proposal's prediction, in the queue

