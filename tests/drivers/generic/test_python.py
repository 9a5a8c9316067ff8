"""The ``python`` driver: a function is the instrument, resolved lazily, with errors naming the option."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from labpilot.drivers import open_instrument
from labpilot.drivers.generic.python import PythonDriver
from labpilot.errors import ConfigurationError, InstrumentError
from labpilot.protocols.capabilities import Sample
from tests.conftest import REPO

MODEL = """
CALLS = []

def predict(params):
    CALLS.append(params)
    return {"scalars": {"y": params["x"] * 2}, "arrays": {"curve": [1, 2, 3]}}

def broken(params):
    raise RuntimeError("the surrogate is not trained")

def not_a_dict(params):
    return [1, 2]

NOT_CALLABLE = 5
"""


def measurer(function: str) -> PythonDriver:
    return open_instrument("python", "local", options={
        "role": "measure", "function": function, "scalars": {"y": "au"}, "arrays": {"curve": "au"}})


def test_a_file_function_measures_from_the_parameters_the_sample_was_made_with(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(MODEL)
    with measurer(f"{tmp_path / 'model.py'}:predict") as inst:
        m = inst.measure(Sample("s", {"params": {"x": 4.0}}), "c1")
    assert m.scalars == {"y": 8.0} and m.arrays["curve"].tolist() == [1.0, 2.0, 3.0]


def test_a_module_function_synthesizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "campaigns" / "sim"))
    inst = open_instrument("python", "local", options={"role": "synthesize", "function": "film_model:deposit"})
    with inst:
        sample = inst.synthesize({"power_w": 100.0, "pressure_pa": 0.5, "temperature_c": 200.0}, "c1")
    assert sample.sample_id.startswith("film-") and sample.info["params"]["power_w"] == 100.0
    sys.modules.pop("film_model", None)


def test_the_target_is_resolved_lazily_and_a_bad_one_names_the_option(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(MODEL)
    sample = Sample("s", {"params": {"x": 1.0}})
    for target, expect in (("no_such_module_xyz:f", "ModuleNotFoundError"),
                           (f"{tmp_path / 'model.py'}:missing", "AttributeError"),
                           (f"{tmp_path / 'nothere.py'}:f", "no such file"),
                           (f"{tmp_path / 'model.py'}:NOT_CALLABLE", "is a int, not a function")):
        inst = measurer(target)  # connecting imports nothing
        with inst, pytest.raises(ConfigurationError, match=r"options.function = .* " + expect):
            inst.measure(sample, "c1")
    with pytest.raises(ConfigurationError, match=r"options.function"):
        measurer("no colon here")


def test_an_error_in_the_function_fails_the_experiment_with_its_message(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(MODEL)
    sample = Sample("s", {"params": {"x": 1.0}})
    with measurer(f"{tmp_path / 'model.py'}:broken") as inst, pytest.raises(
            InstrumentError, match=r"raised RuntimeError: the surrogate is not trained \(command id c9\)"):
        inst.measure(sample, "c9")
    with measurer(f"{tmp_path / 'model.py'}:not_a_dict") as inst, pytest.raises(
            InstrumentError, match="returned list, not a dict"):
        inst.measure(sample, "c9")
    assert PythonDriver.can_reconcile is False
