"""Every registered driver (built-in, and any installed plugin) and the example plugin's drivers conform.

Statically (``check_driver``: declarations, capability methods, options
model) and, where a simulator exists, connected to it as a real subprocess
(``check_instrument``: identify, status, and ``make_safe`` twice in a row).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from labpilot import registry
from labpilot.drivers import open_instrument
from labpilot.simulators.process import SimulatorProcess
from labpilot.testing import check_driver, check_instrument
from tests.plugins.helpers import EXAMPLE_SRC, env_with_path

#: The example plugin's drivers, by class path (they are registered kinds too once it is installed).
EXAMPLE_KINDS = ("labpilot_fourpoint.probe:FourPointProbe", "labpilot_fourpoint.diffractometer:DropDiffractometer")
KINDS = (*registry.instrument_kinds(), *EXAMPLE_KINDS)
#: The generic kinds describe themselves from their options: they conform as configured (one configuration each).
GENERIC_OPTIONS = {
    "scpi": {"role": "measure", "scalars": {"magnetization": {"query": "MEAS:RES? {command_id}", "unit": "emu/cm³"}},
             "safe": ["MEAS:ABOR"]},
    "folder": {"pattern": "{sample_id}.csv", "scalars": {"peak_two_theta": "deg"},
               "arrays": {"two_theta": "deg", "counts": "1"}, "axes": ["two_theta"]},
}


@pytest.fixture(autouse=True)
def example_importable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The example's sources on the import path, here and in the simulator subprocesses (for this test only)."""
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    monkeypatch.setenv("PYTHONPATH", env_with_path(EXAMPLE_SRC)["PYTHONPATH"])
    yield
    monkeypatch.undo()
    registry.clear_cache()  # nothing seen on that path stays registered


@pytest.mark.parametrize("kind", KINDS)
def test_the_driver_class_conforms(kind: str) -> None:
    if kind in GENERIC_OPTIONS:
        cls = check_driver(registry.configured_class(kind, GENERIC_OPTIONS[kind]))
    else:
        cls = check_driver(registry.driver_class(kind))
    assert cls.kind == kind or registry.is_class_path(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_the_driver_is_safe_twice_against_its_simulator(kind: str, tmp_path: Path) -> None:
    if registry.simulator_target(kind) is None:
        pytest.skip(f"{kind} ships no simulator")
    served = registry.simulator(kind).TRANSPORTS
    where = (["--zmq", "tcp://127.0.0.1:0"] if "zmq" in served else ["--pty"] if "pty" in served
             else ["--folder", str(tmp_path / "drop")])
    with SimulatorProcess(kind, *where, "--tray", str(tmp_path / "tray.sqlite")) as sim:
        driver = open_instrument(kind, sim.address, timeout_s=10.0, options=GENERIC_OPTIONS.get(kind))
        try:
            check_instrument(driver)
        finally:
            driver.close()
