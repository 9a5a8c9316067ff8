"""The test kit's film-campaign builder: the TOML it writes is a campaign labpilot's own parser accepts as asked."""

from __future__ import annotations

import tomllib

import pytest

from labpilot.agent.campaign import loads_campaign
from labpilot.testing.campaigns import InstrumentEntry, film_campaign, film_simulation, toml_value
from tests.conftest import REPO

MODEL = REPO / "campaigns" / "sim" / "film_model.py"


def test_the_defaults_leave_execution_and_batch_size_to_the_campaign() -> None:
    c = loads_campaign(film_campaign(MODEL, [film_simulation(MODEL, delay=0.5, max_parallel=3)], budget=5))
    assert (c.name, c.seed, c.initial_design, c.budget.max_experiments) == ("film", 3, 2, 5)
    assert c.execution.parallel == 1 and c.planner.batch_size == 1 and c.mode == "unattended"
    assert [p.name for p in c.parameters] == ["power_w", "pressure_pa", "temperature_c"]
    assert [(i.name, i.kind) for i in c.instruments] == [("film", "python"), ("simulation", "command")]
    sim = c.instruments[1].options
    assert sim["argv"] == ["{python}", str(MODEL), "--seed", "3", "--delay", "0.5"] and sim["max_parallel"] == 3


def test_what_varies_reaches_the_campaign() -> None:
    hand = InstrumentEntry("hand", "manual", {"role": "measure", "scalars": {"thickness": "nm", "hardness": "GPa"},
                                         "instructions": 'Measure "{sample_id}" \\ then log it', "dry_run": "values",
                                         "dry_run_values": {"thickness": [1.0, 2.5], "hardness": [1.0, 2.0]}})
    c = loads_campaign(film_campaign(MODEL, [hand], budget=4, name="x", seed=9, initial_design=4, parallel=3,
                                     batch_size=2, objectives={"thickness": "maximize", "hardness": "minimize"},
                                     mode="supervised"))
    assert (c.name, c.seed, c.execution.parallel, c.planner.batch_size, c.mode) == ("x", 9, 3, 2, "supervised")
    assert [(o.name, o.direction) for o in c.objectives] == [("thickness", "maximize"), ("hardness", "minimize")]
    assert c.instruments[1].options["instructions"] == 'Measure "{sample_id}" \\ then log it'  # quotes, braces kept


def test_toml_values_round_trip_and_an_unknown_type_is_named() -> None:
    value = {"a b": [1, 2.5, True, "é\n"], "n": {"x": -1e-5}}
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value
    with pytest.raises(TypeError, match="no TOML value for set"):
        toml_value({1, 2})
