"""Campaign files: valid files load; every error names its field and reason."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from labpilot.errors import CampaignError
from labpilot.agent import campaign_checks
from labpilot.agent.campaign import load_campaign, loads_campaign, parse_campaign
from labpilot.agent.cli import main
from tests.conftest import CAMPAIGNS


def _data(path: Path) -> dict:
    return tomllib.loads(path.read_text())


@pytest.mark.parametrize("path", sorted(CAMPAIGNS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_campaigns_are_valid(path: Path) -> None:
    c = load_campaign(path)
    assert c.budget.max_experiments >= 1
    assert c.synthesizer.role == "synthesize"
    space = c.space()
    assert space.dim == len(c.parameters)


def test_alloy_campaign_space_is_a_composition_simplex(alloy_campaign_file: Path) -> None:
    c = load_campaign(alloy_campaign_file)
    space = c.space()
    assert space.simplex and set(space.simplex[0].names) == {"Fe", "Co", "Ni", "Ir", "Pt"}
    assert c.objectives[0].name == "magnetization" and c.objectives[0].direction == "maximize"
    assert [i.kind for i in c.instruments] == ["sputter", "xrd", "magnetometer"]


def _problems(data: dict) -> dict[str, str]:
    with pytest.raises(CampaignError) as info:
        parse_campaign(data)
    return dict(info.value.problems)


def _declared_problems(data: dict) -> dict[str, str]:
    """Problems against what the drivers and the planner declare (``campaign_checks``), after the model."""
    return dict(campaign_checks.problems(parse_campaign(data)))


def test_unknown_field_is_named(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["budget"]["max_experiment"] = 3
    problems = _problems(data)
    assert "budget.max_experiment" in problems
    assert "unknown field" in problems["budget.max_experiment"]


def test_parameter_bounds_error_names_the_parameter(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["parameters"][1]["low"] = 2.0
    problems = _problems(data)
    key = next(k for k in problems if k.startswith("parameters[1](Co)"))
    assert "below high" in problems[key]


def test_wrong_type_and_bad_enum_are_both_reported(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["seed"] = "seven"
    data["objectives"][0]["direction"] = "maximise"
    data["instruments"][2]["kind"] = "squid"
    problems = _problems(data)
    assert "seed" in problems and "integer" in problems["seed"]
    assert "objectives[0](magnetization).direction" in problems
    assert "instruments[2](magnetometer).kind" in problems
    message = problems["instruments[2](magnetometer).kind"]
    # the list also names kinds from installed plugins (CI installs the example plugin), so check the built-ins are named
    assert "unknown instrument kind 'squid'; known kinds: " in message
    assert all(kind in message for kind in ("command", "dsc", "folder", "magnetometer", "sputter", "xrd"))


def test_a_negative_seed_is_refused_by_validate(alloy_campaign_file: Path) -> None:
    # issue 14: it used to pass validate and then fail the dry run's simulators
    data = _data(alloy_campaign_file)
    data["seed"] = -1
    assert "greater than or equal to 0" in _problems(data)["seed"]


def test_roles_and_measured_scalars_come_from_the_driver_classes(alloy_campaign_file: Path) -> None:
    c = parse_campaign(_data(alloy_campaign_file))
    assert c.synthesizer.kind == "sputter" and [m.kind for m in c.measurers] == ["xrd", "magnetometer"]
    data = _data(alloy_campaign_file)
    data["objectives"][0]["name"] = "melting_point"  # a dsc scalar: none of these instruments measures it
    assert "they measure magnetization (emu/cm³), peak_two_theta (° 2θ)" in _declared_problems(data)["objectives[0].name"]


def test_objective_must_be_measured_by_an_instrument(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["objectives"][0]["name"] = "coercivity"
    problems = _declared_problems(data)
    (reason,) = problems.values()
    assert "coercivity" in reason and "measured by none of the instruments" in reason


def test_impossible_simplex_is_refused(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    for p in data["parameters"]:
        p["high"] = 0.1
    (reason,) = _problems(data).values()
    assert "impossible" in reason


def test_simplex_over_unknown_parameter(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["constraints"][0]["parameters"].append("Cu")
    (reason,) = _problems(data).values()
    assert "'Cu' is not a parameter" in reason


def test_two_synthesizers_are_refused(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["instruments"][1] = {"name": "robot", "kind": "robot", "address": "tcp://127.0.0.1:5555"}
    (reason,) = _problems(data).values()
    assert "exactly one synthesizer" in reason


def test_not_toml_gives_clear_error() -> None:
    with pytest.raises(CampaignError) as info:
        loads_campaign("name = \n[[[", "broken.toml")
    assert info.value.problems[0][0] == "(toml)"


def test_missing_file() -> None:
    with pytest.raises(CampaignError, match="no such file"):
        load_campaign("/nonexistent/campaign.toml")


def test_validate_cli_lists_every_error_without_traceback(tmp_path: Path, alloy_campaign_file: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = alloy_campaign_file.read_text().replace('mode = "unattended"', 'mode = "sometimes"')
    bad = bad.replace("max_experiments = 40", "max_experiments = -1")
    f = tmp_path / "bad.toml"
    f.write_text(bad)
    assert main(["validate", str(f)]) == 1
    err = capsys.readouterr().err
    assert "mode:" in err and "budget.max_experiments:" in err
    assert "Traceback" not in err


def test_validate_cli_ok(alloy_campaign_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(alloy_campaign_file)]) == 0
    assert "ok" in capsys.readouterr().out


def test_a_misspelled_safety_limit_is_refused_at_validation(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["instruments"][0]["limits"]["max_target_powr_w"] = 100.0
    ((where, reason),) = _declared_problems(data).items()
    assert where == "instruments[0](sputter).limits.max_target_powr_w"
    assert "max_target_power_w" in reason  # the limits it does enforce are listed


def test_deadline_passed_is_one_rule_for_naive_and_zoned_deadlines() -> None:
    import datetime as dt

    from labpilot.agent.campaign import BudgetSpec

    assert not BudgetSpec(max_experiments=3).deadline_passed()
    assert BudgetSpec(max_experiments=3, deadline=dt.datetime(2020, 1, 1)).deadline_passed()
    assert not BudgetSpec(max_experiments=3, deadline=dt.datetime.now() + dt.timedelta(hours=1)).deadline_passed()
    zoned = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))) + dt.timedelta(minutes=5)
    assert not BudgetSpec(max_experiments=3, deadline=zoned).deadline_passed()
    assert BudgetSpec(max_experiments=3, deadline=zoned - dt.timedelta(minutes=10)).deadline_passed()
