"""``labpilot backtest --descriptors``: descriptor columns separate from the inputs, read by the pool reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labpilot.agent.cli import main
from labpilot.planners.backtest import ROW_ID, load_table


def _table(tmp_path: Path, header: bool = True, bad: str | None = None) -> Path:
    rng = np.random.default_rng(4)
    lines = ["recipe,temp,d_a,d_b,d_c,y"] if header else []
    for i in range(40):
        d = rng.random(3)
        cell = f"{d[0]:.4f}" if bad is None or i != 5 else bad
        lines.append(f"r{i % 4},{20 + i},{cell},{d[1]:.4f},{d[2]:.4f},{-((d - 0.4) ** 2).sum():.5f}")
    path = tmp_path / "runs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_descriptors_are_not_inputs_and_reach_the_model_as_a_pool(tmp_path):
    table = load_table(_table(tmp_path), "y", "maximize", descriptors=["d_*"])
    assert table.inputs == ["recipe", "temp"] and table.descriptor_names == ["d_a", "d_b", "d_c"]
    assert table.descriptors.dtype == np.float32 and table.descriptors.shape == (40, 3)
    assert table.descriptors.min() == 0.0 and table.descriptors.max() == 1.0
    space = table.space
    assert space.candidates is not None and space.candidates.point(3)[ROW_ID] == 3


def test_the_cli_backtests_bo_on_descriptors(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["backtest", "--csv", str(_table(tmp_path)), "--objective", "y", "--maximize",
               "--descriptors", "d_a", "d_b,d_c", "--planners", "random,bo", "--budget", "7", "--repeats", "1",
               "--initial", "3", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["descriptors"] == ["d_a", "d_b", "d_c"] and result["inputs"] == ["recipe", "temp"]
    for name in ("random", "bo"):
        picked = result["planners"][name]["repeats"][0]["picked"]
        assert len(picked) == len(set(picked)) == 7
    assert "3 descriptor column(s)" in capsys.readouterr().err


def test_a_headerless_table_names_its_descriptor_columns_with_columns(tmp_path):
    path = _table(tmp_path, header=False)
    table = load_table(path, "y", "maximize", header=False, columns=["recipe", "temp", "d_a", "d_b", "d_c", "y"],
                       descriptors=["d_*"])
    assert table.descriptors.shape == (40, 3) and table.inputs == ["recipe", "temp"]


@pytest.mark.parametrize("bad, args, message", [
    ("oops", ["--descriptors", "d_*"], "row 6, column 'd_a': 'oops' is not a number"),
    (None, ["--descriptors", "z_*"], "descriptors[0]: 'z_*' matches no column"),
    (None, ["--descriptors", "d_*", "--planners", "ae-bo"], "cannot plan over rows modelled by descriptors"),
])
def test_bad_descriptors_are_refused_by_name(tmp_path, capsys, bad, args, message):
    argv = ["backtest", "--csv", str(_table(tmp_path, bad=bad)), "--objective", "y", "--maximize",
            "--budget", "4", "--repeats", "1", "--initial", "2"] + args
    assert main(argv) == 2
    assert message in capsys.readouterr().err
