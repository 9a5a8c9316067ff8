"""The generic kinds conform as what they are: either role, quantities declared in the options."""

from __future__ import annotations

from pathlib import Path

import pytest

from labpilot import registry
from labpilot.drivers import open_instrument
from labpilot.drivers.generic.local import LocalDriver
from labpilot.drivers.options import DriverOptions
from labpilot.plugins import describe_driver, format_text
from labpilot.testing import check_driver, check_instrument
from labpilot.testing.conformance import driver_problems


@pytest.mark.parametrize("kind", ["command", "manual", "python"])
def test_each_generic_kind_conforms_and_is_listed_as_configured_by_its_options(kind: str) -> None:
    cls = check_driver(registry.driver_class(kind))
    assert cls.role_from_options and not cls.device_address
    d = describe_driver(kind)
    assert (d["role"], d["role_from_options"], d["has_simulator"]) == ("from options", True, False)
    assert d["options"]["role"]["required"] and cls.declaration()["role"] == "from options"
    text = format_text({"instruments": [d], "planners": []})
    assert f"  {kind}  role and quantities from options  [labpilot" in text


def test_a_generic_class_without_a_role_option_or_a_measure_method_is_named() -> None:
    class Loose(LocalDriver):
        kind = "loose"
        Options = DriverOptions  # no role, no scalars
        measure = None  # type: ignore[assignment]

    problems = driver_problems(Loose)
    assert "method measure() is missing" in problems
    assert "role_from_options: Options must have a required field 'role'" in problems
    assert "role_from_options: Options must have a field 'scalars' (name -> unit)" in problems


def test_a_connected_python_instrument_is_safe_twice(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text("def f(params):\n    return {'y': 1.0}\n")
    driver = open_instrument("python", "local", options={"role": "measure", "function": f"{tmp_path / 'f.py'}:f",
                                                         "scalars": {"y": "au"}})
    try:
        check_instrument(driver)
    finally:
        driver.close()


@pytest.mark.parametrize("kind, says", [
    ("scpi", "dry run: the built-in simulator its options.simulator names"),
    ("command", "dry run: runs as configured"),
    ("sputter", "dry run: simulator labpilot.simulators.sputter_sim"),
])
def test_the_listing_says_what_stands_in_for_each_kind_in_a_dry_run(kind: str, says: str) -> None:
    # scpi has no simulator of its own, yet a dry run uses the one its options name: never "none"
    text = format_text({"instruments": [describe_driver(kind)], "planners": []})
    assert says in text
    assert "dry run: none" not in text
