"""Issue 9, item 2: `labpilot validate` checks a campaign against what drivers and planners declare.

Each test writes a TOML file changed in one way from a shipped campaign and
runs the real command line on it: the exit code, the field the message names
and no traceback. `labpilot run` refuses the same files up front, before a
database is created or an instrument contacted.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from labpilot.agent.cli.main import main
from tests.conftest import CAMPAIGNS, REPO

tomli_w = pytest.importorskip("tomli_w", reason="the dev dependency tomli-w writes the campaign files")

ALLOY = tomllib.loads((CAMPAIGNS / "alloy_magnetization.toml").read_text())
POLYMER = tomllib.loads((CAMPAIGNS / "polymer_properties.toml").read_text())


def _doc(base: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(base)


def _inst(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(i for i in doc["instruments"] if i["kind"] == kind)


def _param(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in doc["parameters"] if p["name"] == name)


def _validate(tmp_path: Path, doc: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "campaign.toml"
    path.write_text(tomli_w.dumps(doc))
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out + err


def _refused(tmp_path: Path, doc: dict[str, Any], capsys: pytest.CaptureFixture[str], field: str) -> str:
    """Validate must refuse ``doc`` with exit code 1, naming ``field`` at the start of a problem line."""
    code, text = _validate(tmp_path, doc, capsys)
    assert code == 1, text
    lines = [line.strip() for line in text.splitlines()]
    hit = [line for line in lines if line.startswith(field + ":")]
    assert hit, text
    return hit[0]


# -- the planner ----------------------------------------------------------------------


def test_an_unknown_planner_is_refused(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    doc["planner"]["name"] = "bayes"
    line = _refused(tmp_path, doc, capsys, "planner.name")
    assert "unknown planner 'bayes'" in line and "bo" in line


def test_a_misspelt_planner_option_is_refused(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    doc["planner"]["options"] = {"aquisition": "qucb"}
    line = _refused(tmp_path, doc, capsys, "planner.options.aquisition")
    assert "unknown option of planner 'bo'" in line and "did you mean 'acquisition'" in line


def test_a_planner_option_outside_its_vocabulary_is_refused(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    doc["planner"]["options"] = {"acquisition": "logei"}  # ae-bo's word, not bo's
    line = _refused(tmp_path, doc, capsys, "planner.options.acquisition")
    assert "'qlognei' or 'qucb'" in line


def test_a_planner_that_cannot_run_this_campaign_is_refused(tmp_path, capsys) -> None:
    doc = _doc(POLYMER)
    doc["planner"] = {"name": "range"}  # objectives without a window
    line = _refused(tmp_path, doc, capsys, "planner")
    assert "needs a window" in line


# -- instruments: options and limits ----------------------------------------------------


def test_a_misspelt_instrument_option_is_refused(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    _inst(doc, "xrd")["options"]["target"] = "Cu"
    line = _refused(tmp_path, doc, capsys, "instruments[1](xrd).options.target")
    assert "unknown option of instrument kind 'xrd'" in line and "two_theta_start" in line


@pytest.mark.parametrize(
    "kind, option, value, words",
    [
        ("dsc", "t_step_c", -0.5, "greater than 0"),
        ("dsc", "t_stop_c", 10.0, "must exceed t_start_c"),
        ("xrd", "dwell_s", "0.3", "valid number"),
        ("robot", "dispense_ml", True, "valid number"),
        ("tensile", "model", 5, "valid string"),
    ],
)
def test_an_invalid_instrument_option_is_refused(tmp_path, capsys, kind, option, value, words) -> None:
    doc = _doc(POLYMER)
    _inst(doc, kind).setdefault("options", {})[option] = value
    i = next(j for j, inst in enumerate(doc["instruments"]) if inst["kind"] == kind)
    line = _refused(tmp_path, doc, capsys, f"instruments[{i}]({kind}).options.{option}")
    assert words in line


def test_sputter_options_are_checked_together(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    del _inst(doc, "sputter")["options"]["rates"]["Pt"]
    line = _refused(tmp_path, doc, capsys, "instruments[0](sputter).options.rates")
    assert "lacks target(s) ['Pt']" in line


def test_an_unknown_limit_name_is_refused(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    _inst(doc, "sputter")["limits"]["max_power"] = 100.0
    line = _refused(tmp_path, doc, capsys, "instruments[0](sputter).limits.max_power")
    assert "max_target_power_w" in line


def test_an_option_its_own_safety_limit_forbids_is_refused(tmp_path, capsys) -> None:
    doc = _doc(POLYMER)
    _inst(doc, "dsc")["options"]["t_stop_c"] = 300.0  # max_temperature_c = 250
    line = _refused(tmp_path, doc, capsys, "instruments[2](dsc).options.t_stop_c")
    assert "max_temperature_c = 250" in line
    doc = _doc(ALLOY)
    _inst(doc, "sputter")["options"]["max_power_w"] = 400.0  # max_target_power_w = 300
    _refused(tmp_path, doc, capsys, "instruments[0](sputter).options.max_power_w")


# -- the synthesizer's parameters --------------------------------------------------------


def test_robot_parameters_the_robot_refuses_are_refused(tmp_path, capsys) -> None:
    doc = _doc(POLYMER)
    _param(doc, "stereoregularity")["name"] = "tacticity"
    line = _refused(tmp_path, doc, capsys, "parameters[1](tacticity).name")
    assert "does not accept a parameter 'tacticity'" in line and "stereoregularity" in line
    line = _refused(tmp_path, doc, capsys, "parameters")
    assert "needs parameter(s) stereoregularity" in line


def test_parameter_bounds_outside_what_the_synthesizer_accepts_are_refused(tmp_path, capsys) -> None:
    doc = _doc(POLYMER)
    _param(doc, "stereoregularity")["high"] = 1.2
    _param(doc, "molecular_weight")["high"] = 1500.0  # max_molecular_weight = 1000
    line = _refused(tmp_path, doc, capsys, "parameters[1](stereoregularity).high")
    assert "[0, 1]" in line
    line = _refused(tmp_path, doc, capsys, "parameters[0](molecular_weight).high")
    assert "(0, 1000] kg/mol" in line


def test_sputter_parameters_must_be_its_targets_and_a_composition(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    doc["parameters"].append({"name": "Cu", "type": "continuous", "low": 0.0, "high": 0.1})
    line = _refused(tmp_path, doc, capsys, "parameters[5](Cu).name")
    assert "Fe, Co, Ni, Ir, Pt" in line
    doc = _doc(ALLOY)
    doc["constraints"] = []
    line = _refused(tmp_path, doc, capsys, "constraints")
    assert "add up to 1" in line
    doc = _doc(ALLOY)
    doc["constraints"][0]["total"] = 0.9
    doc["parameters"][0]["high"] = 0.9
    _refused(tmp_path, doc, capsys, "constraints[0].total")


def test_an_objective_no_instrument_declares_is_refused(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    doc["objectives"][0]["name"] = "coercivity"
    line = _refused(tmp_path, doc, capsys, "objectives[0].name")
    assert "'coercivity' is measured by none" in line and "magnetization (emu/cm³)" in line


def test_every_problem_is_listed_at_once(tmp_path, capsys) -> None:
    doc = _doc(ALLOY)
    doc["planner"]["options"] = {"aquisition": "qucb"}
    _inst(doc, "xrd")["options"]["target"] = "Cu"
    doc["objectives"][0]["name"] = "coercivity"
    code, text = _validate(tmp_path, doc, capsys)
    assert code == 1 and "(3 problem(s))" in text, text


# -- what validate accepts, run accepts; what it refuses, run refuses up front -------------


@pytest.mark.parametrize("path", sorted(CAMPAIGNS.glob("*.toml")), ids=lambda p: p.name)
def test_the_shipped_campaigns_validate(path: Path, capsys) -> None:
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_run_refuses_what_validate_refuses_before_creating_anything(tmp_path, capsys) -> None:
    doc = _doc(POLYMER)
    _inst(doc, "xrd")["options"]["target"] = "Cu"
    path = tmp_path / "campaign.toml"
    path.write_text(tomli_w.dumps(doc))
    db = tmp_path / "run.db"
    code = main(["run", str(path), "--db", str(db), "--dry-run", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "instruments[1](xrd).options.target" in err and "Traceback" not in err, err
    assert not db.exists()


def test_validating_a_non_gp_campaign_does_not_import_torch(tmp_path) -> None:
    doc = _doc(ALLOY)
    doc["planner"] = {"name": "random", "batch_size": 1}
    path = tmp_path / "campaign.toml"
    path.write_text(tomli_w.dumps(doc))
    script = ("import sys; from labpilot.agent.cli.main import main; code = main(['validate', sys.argv[1]]); "
              "print(code, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stdout + out.stderr
