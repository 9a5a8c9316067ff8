"""The one list of instrument kinds: lazy loading, clear errors, and what each driver class declares."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labpilot import registry
from labpilot.errors import ConfigurationError
from labpilot.registry import DRIVERS, SIMULATORS, Registry
from tests.conftest import CAMPAIGNS, REPO


GENERIC = {  # kinds configured in the campaign: their description comes from the options
    "scpi": {"role": "measure", "scalars": {"resistance": {"query": "MEAS:RES?", "unit": "ohm"}}},
    "folder": {"pattern": "{sample_id}.csv", "scalars": {"peak": "deg"}, "arrays": {"two_theta": "deg", "counts": "1"}, "axes": ["two_theta"]},
    "command": {"role": "measure", "argv": ["x"], "scalars": {"hardness": "GPa"}},
    "manual": {"role": "measure", "scalars": {"defects": "count"}},
    "python": {"role": "measure", "function": "m:f", "scalars": {"y": "1"}},
}
#: Generic kinds that talk to no device: no simulator, a dry run runs them as configured.
LOCAL = ("command", "manual", "python")
OWN = ("dsc", "magnetometer", "robot", "sputter", "tensile", "xrd")


def _own(table: Registry) -> tuple[str, ...]:
    """The names labpilot itself registers (an installed plugin may add more)."""
    return tuple(sorted(n for n, e in table.entries().items() if e.distribution.split()[0] == "labpilot"))


def test_every_kind_has_a_driver_and_a_simulator_that_agree() -> None:
    assert _own(DRIVERS) == tuple(sorted((*OWN, *GENERIC)))
    assert _own(SIMULATORS) == tuple(sorted((*OWN, "folder")))  # scpi: a built-in simulator stands in
    for kind in LOCAL:  # no simulator: a dry run runs them as configured (the manual step via its stand-in)
        cls = registry.driver_class(kind)
        assert cls.kind == kind and cls.dry_run_as_is and not cls.device_address
        assert registry.simulator_target(kind) is None
    for kind in OWN:
        cls = registry.driver_class(kind)
        assert cls.kind == kind and cls.role in ("synthesize", "measure")
        assert set(cls.axes) <= set(cls.arrays)  # an axis is one of the arrays it measures
        assert (cls.role == "measure") == bool(cls.scalars)  # a measurer measures something
        transports = SIMULATORS.load(kind).TRANSPORTS
        assert transports == (("zmq",) if cls.__module__.endswith(("robot", "xrd")) else ("pty", "tcp"))
    for kind, options in GENERIC.items():
        cls = registry.configured_class(kind, options)
        assert cls.kind == kind and cls.role == "measure" and cls.scalars and set(cls.axes) <= set(cls.arrays)
        stand_in = registry.driver_class(kind).stand_in(options)
        assert stand_in is None or stand_in.kind in SIMULATORS


def test_roles_scalars_and_axes_are_derived_from_the_drivers() -> None:
    # the generic kinds whose role is an option count too
    assert registry.synthesizer_kinds() == ("command", "manual", "python", "robot", "scpi", "sputter")
    assert registry.measured_scalars("tensile") == {"tensile_modulus": "MPa", "impact_strength": "kJ/m²"}
    assert registry.measured_scalars("sputter") == {}
    assert registry.axis_arrays() == {"two_theta", "temperature"}


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError,
                       match=r"unknown instrument kind 'laser'; known kinds: command, dsc, folder, magnetometer, manual, python,"):
        registry.driver_class("laser")
    assert "laser" not in DRIVERS and "xrd" in DRIVERS


def test_a_table_resolves_classes_and_modules() -> None:
    table = Registry("example.group", "thing", {"reg": "labpilot.registry:Registry", "mod": "labpilot.errors"})
    assert table.load("reg") is Registry
    assert table.load("mod").ConfigurationError is ConfigurationError


def test_listing_kinds_and_validating_a_campaign_import_no_torch() -> None:
    code = (
        "import sys\n"
        "from labpilot import registry\n"
        "from labpilot.agent.campaign import load_campaign\n"
        "registry.synthesizer_kinds(); registry.axis_arrays()\n"
        f"load_campaign({str(CAMPAIGNS / 'alloy_magnetization.toml')!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=REPO)
