"""``[execution] parallel`` and interchangeable instruments (``stage``): what a campaign may say, by field."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from labpilot.agent.campaign import parse_campaign
from labpilot.errors import CampaignError


def _data(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def _problem(data: dict) -> tuple[str, str]:
    with pytest.raises(CampaignError) as info:
        parse_campaign(data)
    (problem,) = info.value.problems
    return problem


def _two_sputters(data: dict, stages: tuple[str | None, str | None]) -> dict:
    data = copy.deepcopy(data)
    second = copy.deepcopy(data["instruments"][0])
    second["name"], second["address"] = "sputter2", "/dev/ttyUSB2"
    data["instruments"].insert(1, second)
    for spec, stage in zip(data["instruments"][:2], stages):
        if stage is not None:
            spec["stage"] = stage
    return data


def test_parallel_defaults_to_one_and_stages_default_to_instrument_names(alloy_campaign_file: Path) -> None:
    c = parse_campaign(_data(alloy_campaign_file))
    assert c.execution.parallel == 1
    assert [[s.name for s in stage] for stage in c.measure_stages()] == [["xrd"], ["magnetometer"]]
    assert [s.name for s in c.synthesizers] == ["sputter"]


def test_interchangeable_synthesizers_share_a_stage(alloy_campaign_file: Path) -> None:
    data = _two_sputters(_data(alloy_campaign_file), ("deposition", "deposition"))
    data["execution"] = {"parallel": 3}
    c = parse_campaign(data)
    assert [s.name for s in c.synthesizers] == ["sputter", "sputter2"]
    assert list(c.stages()) == ["deposition", "xrd", "magnetometer"]


@pytest.mark.parametrize("stages", [(None, None), ("a", "b"), ("deposition", None)])
def test_synthesizers_without_one_shared_stage_are_refused(alloy_campaign_file: Path, stages: tuple) -> None:
    data = _two_sputters(_data(alloy_campaign_file), stages)
    data["execution"] = {"parallel": 2}
    where, why = _problem(data)
    assert "exactly one synthesizer" in why and "found 2 (sputter, sputter2)" in why and "instruments[].stage" in why


def test_a_shared_stage_needs_parallel_execution(alloy_campaign_file: Path) -> None:
    where, why = _problem(_two_sputters(_data(alloy_campaign_file), ("deposition", "deposition")))
    assert "stage 'deposition'" in why and "execution.parallel" in why


def test_a_stage_of_two_roles_or_two_kinds_is_refused(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["execution"] = {"parallel": 2}
    data["instruments"][1]["stage"] = "magnetometer"  # xrd joins the magnetometer's stage
    assert "mixes kinds" in _problem(data)[1]
    data["instruments"][1]["stage"] = "sputter"
    assert "mixes synthesizers and measurers" in _problem(data)[1]


@pytest.mark.parametrize("value", [0, -1, 5000, "four"])
def test_parallel_out_of_range_is_named(alloy_campaign_file: Path, value: object) -> None:
    data = _data(alloy_campaign_file)
    data["execution"] = {"parallel": value}
    assert _problem(data)[0] == "execution.parallel"


def test_unknown_execution_field_is_named(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["execution"] = {"paralel": 2}
    assert _problem(data) == ("execution.paralel", "unknown field (check its spelling)")


def test_pipelining_and_parallel_execution_are_refused_together(alloy_campaign_file: Path) -> None:
    data = _data(alloy_campaign_file)
    data["execution"], data["pipeline"] = {"parallel": 2}, True
    assert "set pipeline = false" in _problem(data)[1]
