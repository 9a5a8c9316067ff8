"""The polymer-optics seed loop's parts: the pool generator, the simulation script (a real subprocess), the plot."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.conftest import CAMPAIGNS

HERE = CAMPAIGNS / "polymer_optics"
SIMULATE = HERE / "simulate.py"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"polymer_optics_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


make_pool = _module("make_pool")


def test_the_generator_is_deterministic_and_has_the_declared_shape() -> None:
    a, b = make_pool.generate(5, rows=400), make_pool.generate(5, rows=400)
    assert a.ids == b.ids and a.names == b.names
    assert np.array_equal(a.descriptors, b.descriptors) and np.array_equal(a.refractive_index, b.refractive_index)
    assert not np.array_equal(make_pool.generate(6, rows=400).descriptors, a.descriptors)
    assert a.descriptors.shape == (400, len(a.names)) and 160 <= len(a.names) <= 180
    assert len(set(a.names)) == len(a.names) and all(n.startswith("d_") for n in a.names)
    assert len(set(a.ids)) == 400 and np.isfinite(a.descriptors).all()
    counts = a.descriptors[:, [i for i, n in enumerate(a.names) if n.startswith("d_cnt_")]]
    assert (counts == np.round(counts)).all() and (counts >= 0).all() and counts.shape[1] >= 50


def test_the_truth_is_physical_and_trades_index_against_dispersion() -> None:
    pool = make_pool.generate(make_pool.DEFAULT_SEED, rows=3000)
    n, v = pool.refractive_index, pool.abbe_number
    assert 1.25 < np.percentile(n, 1) < np.percentile(n, 99) < 1.9  # fluoropolymers (1.28) to sulfur-rich (1.85)
    assert 15 < np.percentile(v, 1) < np.percentile(v, 99) < 70
    assert np.corrcoef(n, v)[0, 1] < -0.7  # high index, low Abbe number, as in real polymers
    # the truth depends on the latents, which the descriptors show (noisily): a linear model explains much of n
    x = (pool.descriptors - pool.descriptors.mean(0)) / (pool.descriptors.std(0) + 1e-12)
    coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], n, rcond=None)
    r2 = 1 - np.var(n - np.c_[x, np.ones(len(x))] @ coef) / np.var(n)
    assert r2 > 0.8


def test_the_committed_pool_and_truth_are_what_the_generator_makes() -> None:
    import pyarrow.parquet as pq

    pool = make_pool.generate()
    table = pq.read_table(make_pool.POOL_FILE)
    assert table.column_names == [make_pool.ID_COLUMN, *pool.names]
    assert table.column(make_pool.ID_COLUMN).to_pylist() == pool.ids
    stored = np.column_stack([table.column(c).to_numpy().astype(float) for c in pool.names])
    assert np.array_equal(stored, pool.descriptors)
    truth = _module("simulate").read_truth()
    assert list(truth) == pool.ids
    got = np.array(list(truth.values()))
    assert np.allclose(got[:, 0], pool.refractive_index, atol=1e-6) and np.allclose(got[:, 1], pool.abbe_number, atol=1e-4)


def simulate(stage: str, request: object, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the simulation script as the command driver does: JSON on stdin, a real subprocess."""
    return subprocess.run([sys.executable, str(SIMULATE), stage, *args], input=json.dumps(request),
                          capture_output=True, text=True, timeout=60, env={"POLYMER_SIM_TIME_SCALE": "0"})


def test_md_reads_the_request_and_prints_and_writes_the_noisy_truth(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "c1.json"
    request = {"command_id": "c1", "role": "measure", "params": {"polymer_id": "P00042"}, "sample_id": "cell-x"}
    run = simulate("md", request, "--seed", "3", "--fail-rate", "0", "--result-file", str(out))
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == printed and set(printed) == {"refractive_index", "abbe_number"}
    n, v = _module("simulate").read_truth()["P00042"]
    assert abs(printed["refractive_index"] - n) < 0.03 and abs(printed["abbe_number"] - v) < 5
    assert printed != {"refractive_index": n, "abbe_number": v}  # noisy
    again = simulate("md", request, "--seed", "3", "--fail-rate", "0")
    assert json.loads(again.stdout.strip().splitlines()[-1]) == printed  # same command id, same draw
    other = simulate("md", {**request, "command_id": "c2"}, "--seed", "3", "--fail-rate", "0")
    assert json.loads(other.stdout.strip().splitlines()[-1]) != printed
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing left behind


def test_md_fails_at_its_rate_with_a_message_and_no_result(tmp_path: Path) -> None:
    failed = 0
    for i in range(40):
        out = tmp_path / f"r{i}.json"
        run = simulate("md", {"command_id": f"c{i}", "params": {"polymer_id": "P00001"}}, "--fail-rate", "0.3",
                       "--result-file", str(out))
        if run.returncode:
            failed += 1
            assert run.returncode == 3 and not out.exists() and run.stdout == ""
            assert "did not converge" in run.stderr or "lost atoms" in run.stderr
            assert f"command id c{i}" in run.stderr
        else:
            assert out.exists()
    assert 4 <= failed <= 22  # 30 % of 40, drawn from the command ids


def test_build_names_the_cell_and_bad_requests_exit_2() -> None:
    run = simulate("build", {"command_id": "b1", "role": "synthesize", "params": {"polymer_id": "P00007"}})
    cell = json.loads(run.stdout)
    assert run.returncode == 0 and cell["sample_id"].startswith("cell-P00007-") and cell["polymer_id"] == "P00007"
    unknown = simulate("md", {"command_id": "b2", "params": {"polymer_id": "P99999"}})
    assert unknown.returncode == 2 and "unknown polymer_id 'P99999'" in unknown.stderr
    missing = simulate("md", {"command_id": "b3", "params": {}})
    assert missing.returncode == 2 and "no params.polymer_id" in missing.stderr
    garbage = subprocess.run([sys.executable, str(SIMULATE), "md"], input="not json", capture_output=True, text=True,
                             timeout=60)
    assert garbage.returncode == 2 and "bad request" in garbage.stderr


@pytest.mark.parametrize("unit, shown", [("1", "refractive_index (dimensionless)"), ("GPa", "refractive_index (GPa)"),
                                         ("", "refractive_index")])
def test_axis_labels_take_the_instrument_declared_unit(unit: str, shown: str) -> None:
    from labpilot.agent.units import label

    assert label("refractive_index", {"refractive_index": unit}) == shown
    assert label("magnetization", {}) == "magnetization (emu/cm³)"  # the shared table otherwise


def test_the_campaign_validates_with_a_pool_two_dimensionless_objectives_and_ten_in_parallel() -> None:
    from labpilot.agent.campaign import load_campaign
    from labpilot.agent.cli import main
    from labpilot.agent.units import campaign_units

    assert main(["validate", str(CAMPAIGNS / "polymer_optics.toml")]) == 0
    camp = load_campaign(CAMPAIGNS / "polymer_optics.toml")
    assert camp.planner.name == "mobo" and camp.planner.batch_size == 10 and camp.execution.parallel == 20
    table = camp.space().candidates
    assert len(table) == 10_000 and table.features.shape[1] == 175
    assert [i.options["max_parallel"] for i in camp.instruments] == [10, 10]
    # a failed build or simulation fails its experiment only (a build a killed agent was starting included)
    assert [i.options.get("on_error") for i in camp.instruments] == ["fail", "fail"]
    units = campaign_units(camp.model_dump(by_alias=True))
    assert {k: units[k] for k in ("refractive_index", "abbe_number")} == {"refractive_index": "1", "abbe_number": "1"}
