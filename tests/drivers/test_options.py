"""Typed driver options: every option the campaigns, tests and benchmarks use is accepted; typos are not.

Each driver class declares an ``Options`` model; ``DriverBase`` validates a
campaign's options with it once, at connect (``driver.settings``), and
``labpilot validate`` runs the same validation without connecting.
"""

from __future__ import annotations

import tomllib

import pytest

from labpilot.drivers import open_instrument
from labpilot.drivers.base import DriverBase
from labpilot.drivers.options import DriverOptions, describe_options, option_problems
from labpilot.errors import OptionsError
from labpilot.registry import DRIVERS, driver_class
from tests.conftest import CAMPAIGNS
from tests.drivers.test_sputter import OPTIONS as SPUTTER_OPTIONS, RATES

#: (kind, options) as the tests and benchmarks pass them to ``open_instrument``.
USED = [
    ("sputter", SPUTTER_OPTIONS),
    ("sputter", {"rates": RATES, "speed": 20000}),
    ("sputter", {"rates": RATES, "speed": 50000, "backoff_s": 0.01}),
    ("sputter", {"rates": {"Fe": 1.0, "Co": 1.0}, "targets": ["Fe", "Co"], "speed": 100, "deposition_time_s": 150}),
    ("sputter", {"channels": {"Fe": 1, "Co": 2}, "rates": {"Fe": 1.0, "Co": 1.0}, "targets": ["Fe", "Co"]}),
    ("xrd", {"speed": 1e6}),
    ("xrd", {"speed": 1e6, "two_theta_start": 5.0, "two_theta_stop": 35.0, "two_theta_step": 0.02}),
    ("xrd", {"speed": 1e6, "tube_power_w": 1500, "backoff_s": 0.0}),
    ("robot", {"speed": 1e6, "melt_temp_c": 30.0}),
    ("robot", {"speed": 1.0, "dispense_ml": 5}),
    ("dsc", {"speed": 50000, "t_start_c": 40.0, "t_stop_c": 200.0, "t_step_c": 0.25}),
    ("dsc", {"t_stop_c": 280.0}),
    ("tensile", {"speed": 50000}),
    ("magnetometer", {"speed": 1e6, "model": "MAGNETOMETER", "poll_s": 0.01, "reconcile": False}),
]


def _campaign_options() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(CAMPAIGNS.glob("*.toml")):
        for inst in tomllib.loads(path.read_text())["instruments"]:
            out.append((inst["kind"], inst.get("options", {})))
    return out


@pytest.mark.parametrize("kind, options", USED + _campaign_options())
def test_options_in_use_are_accepted(kind: str, options: dict) -> None:
    cls = driver_class(kind)
    assert option_problems(cls.Options, options) == []
    settings = cls.Options.model_validate(options)
    given = settings.model_dump(mode="json", exclude_unset=True)  # nested tables (a generic driver's) as written (tuples as lists)
    for name, value in options.items():
        assert getattr(settings, name) == value or given[name] == value


@pytest.mark.parametrize("kind", DRIVERS.names())
def test_every_driver_declares_typed_documented_options(kind: str) -> None:
    cls = driver_class(kind)
    assert issubclass(cls.Options, DriverOptions) and cls.Options.model_config["extra"] == "forbid"
    described = describe_options(cls.Options)
    assert {"speed", "backoff_s", "poll_s", "reconcile"} <= set(described)
    assert all(d["doc"] for d in described.values()), described  # every option says what it is
    assert ("no_such_option", "unknown option (check its spelling)") in option_problems(cls.Options, {"no_such_option": 1})


@pytest.mark.parametrize(
    "kind, options, field",
    [
        ("sputter", {"target": ["Fe"]}, "target"),
        ("sputter", {"targets": ["Fe", "Fe"]}, "targets"),
        ("sputter", {"max_power_w": 100.0, "total_power_w": 200.0}, "max_power_w"),
        ("sputter", {"channels": {"Fe": 0}}, "channels.Fe"),
        ("dsc", {"t_start_c": True}, "t_start_c"),
        ("xrd", {"two_theta_step": 0}, "two_theta_step"),
        ("xrd", {"speed": float("inf")}, "speed"),
        ("robot", {"dispense_ml": -1}, "dispense_ml"),
        ("magnetometer", {"reconcile": "no"}, "reconcile"),
    ],
)
def test_bad_options_are_named(kind: str, options: dict, field: str) -> None:
    assert field in dict(option_problems(driver_class(kind).Options, options))


def test_a_driver_refuses_bad_options_before_opening_its_transport() -> None:
    # loop:// would answer nothing: the refusal comes from the options, before any handshake
    with pytest.raises(OptionsError, match=r"dsc: invalid options: options\.t_stepc: unknown option"):
        open_instrument("dsc", "loop://", options={"t_stepc": 0.5})


def test_synthesizers_declare_what_they_accept_and_measurers_do_not() -> None:
    sputter = driver_class("sputter")
    acc = sputter.accepts(sputter.Options.model_validate({"targets": ["Fe", "Co"]}), {"max_pressure_pa": 2.0})
    assert acc.fractions == ("Fe", "Co") and acc.get("pressure_pa").high == 2.0
    robot = driver_class("robot")
    acc = robot.accepts(robot.Options(), {"max_molecular_weight": 500.0})
    assert [a.name for a in acc.params if a.required] == ["molecular_weight", "stereoregularity",
                                                          "cooling_temperature"]
    assert acc.get("molecular_weight").bounds_text() == "(0, 500]"
    for kind in ("xrd", "dsc", "magnetometer", "tensile"):
        cls = driver_class(kind)
        assert cls.accepts(cls.Options(), {}) is None


def test_limit_capped_options_are_the_ones_the_driver_checks() -> None:
    xrd = driver_class("xrd")
    items = {i.limit: i for i in xrd.limited_options(xrd.Options())}
    assert items["max_scan_points"].value == 3501 and items["max_tube_power_w"].option == "tube_power_w"
    dsc = driver_class("dsc")
    assert [(i.limit, i.value) for i in dsc.limited_options(dsc.Options(t_stop_c=180.0))] == [
        ("max_temperature_c", 180.0)]


@pytest.mark.parametrize("kind", DRIVERS.names())
def test_each_driver_describes_itself_as_json(kind: str) -> None:
    import json

    d = driver_class(kind).declaration()
    assert json.loads(json.dumps(d)) == d
    assert d["kind"] == kind
    assert d["role"] in (("from options",) if d["role_from_options"] else ("synthesize", "measure"))
    if driver_class(kind).for_options.__func__ is DriverBase.for_options.__func__:  # not described by its options
        assert (d["accepts"] is not None) == (d["role"] == "synthesize")
        assert d["role"] == "synthesize" or d["scalars"]
