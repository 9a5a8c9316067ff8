"""The shipped generic-driver campaign: validates, and dry-runs end to end (python + command + manual)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labpilot.agent import campaign_checks
from labpilot.agent.campaign import loads_campaign
from labpilot.agent.store import Store
from labpilot.errors import CampaignError
from tests.conftest import CAMPAIGNS, REPO

SIM = CAMPAIGNS / "simulation_loop.toml"


def labpilot(*args: str, timeout: float = 600, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_the_campaign_validates_with_objectives_from_the_generic_measurers() -> None:
    out = labpilot("validate", str(SIM))
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
    camp = loads_campaign(SIM.read_text(), base=CAMPAIGNS)
    assert camp.synthesizer.name == "film" and [m.name for m in camp.measurers] == ["simulation", "review"]


def test_an_objective_no_generic_measurer_declares_is_refused_by_name() -> None:
    text = SIM.read_text().replace('name = "hardness"', 'name = "coercivity"')
    found = dict(campaign_checks.problems(loads_campaign(text, base=CAMPAIGNS)))  # what validate and run check
    assert found == {"objectives[0].name": "'coercivity' is measured by none of the instruments "
                                           "(they measure defects (count), hardness (GPa), roughness (nm))"}
    two = SIM.read_text().replace('role = "measure"\nargv', 'role = "synthesize"\nargv')
    with pytest.raises(CampaignError, match="exactly one synthesizer"):
        loads_campaign(two, base=CAMPAIGNS)
    bad_address = SIM.read_text().replace('address = "local"', 'address = "lo cal"', 1)
    with pytest.raises(CampaignError) as err:
        loads_campaign(bad_address, base=CAMPAIGNS)
    assert "instruments[0](film).address" in dict(err.value.problems)


def test_validate_checks_the_generic_options_and_skips_the_parameters_check_for_a_generic_synthesizer() -> None:
    # the shipped campaign: a python synthesizer takes whatever parameters the campaign gives
    camp = loads_campaign(SIM.read_text(), base=CAMPAIGNS)
    assert camp.synthesizer.kind == "python" and campaign_checks.problems(camp) == []
    typo = SIM.read_text().replace("run_timeout_s = 120", "run_timout_s = 120")
    found = dict(campaign_checks.problems(loads_campaign(typo, base=CAMPAIGNS)))
    assert list(found) == ["instruments[1](simulation).options.run_timout_s"]  # no objective noise from it
    assert "did you mean 'run_timeout_s'?" in found["instruments[1](simulation).options.run_timout_s"]
    bad_type = SIM.read_text().replace("max_parallel = 4", 'max_parallel = "four"')
    assert list(dict(campaign_checks.problems(loads_campaign(bad_type, base=CAMPAIGNS)))) == [
        "instruments[1](simulation).options.max_parallel"]
    for name, needle in (("film", 'role = "synthesize"\n'), ("simulation", 'role = "measure"\nargv')):
        no_role = SIM.read_text().replace(needle, "" if name == "film" else "argv", 1)
        with pytest.raises(CampaignError) as err:
            loads_campaign(no_role, base=CAMPAIGNS)
        index = 0 if name == "film" else 1
        assert dict(err.value.problems)[f"instruments[{index}]({name}).options"].startswith("role is missing")


def test_validate_refuses_a_misspelt_generic_option_through_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "sim.toml"
    bad.write_text(SIM.read_text().replace("instructions =", "instruction ="))
    out = labpilot("validate", str(bad))
    assert out.returncode != 0 and "Traceback" not in out.stderr + out.stdout
    assert "instruments[2](review).options.instruction: unknown option of instrument kind 'manual'" in (
        out.stdout + out.stderr)


@pytest.mark.slow
def test_the_simulation_loop_dry_runs_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    # from another directory: the command's script is relative to the campaign file's folder, like its function
    run = labpilot("run", str(SIM), "--dry-run", "--db", str(db), "--max-experiments", "5", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "simulator " not in run.stdout  # generic instruments need no simulator process
    status = json.loads(labpilot("status", "--db", str(db), "--json").stdout)
    assert status["state"] == "completed" and status["experiments"]["completed"] == 5
    store = Store.open(db)
    try:
        assert store.campaign()["config"]["instruments"][1]["options"]["cwd"] == str(CAMPAIGNS)
        exps = store.experiments()
        assert {e.chosen_by for e in exps} == {"initial", "planner"}
        for e in exps:
            assert set(e.scalars) == {"hardness", "roughness", "defects"}
            assert 0.0 <= e.scalars["defects"] <= 5.0 and e.sample_id.startswith("film-")
        # deterministic: the simulation's own model gives these values from (seed, command id)
        sys.path.insert(0, str(CAMPAIGNS / "sim"))
        try:
            import film_model
        finally:
            sys.path.pop(0)
        uid = store.campaign()["uid"]
        for e in exps:
            again = film_model.simulate(e.params, f"{uid}-e{e.id}-simulation", seed=3, noise=0.1)
            assert e.scalars["hardness"] == pytest.approx(again["hardness"])
        done = store.events(kind="manual_done")
        assert len(done) == 5 and {d["data"]["by"] for d in done} == {"dry-run stand-in"}
    finally:
        store.close()
