"""``labpilot backtest`` through argparse, as the CLI calls it."""

from __future__ import annotations

import argparse
import json

import numpy as np

from labpilot.agent.cli import main
from labpilot.agent.cli.backtest import add_parser


def _parse(argv):
    parser = argparse.ArgumentParser(prog="labpilot")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def _table(tmp_path, header=True):
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{(a - 0.5) ** 2 + b:.4f}" for a, b in rng.random((50, 2))]
    path = tmp_path / "plate.csv"
    path.write_text(("a,b,eta\n" if header else "") + "\n".join(rows) + "\n", encoding="utf-8-sig")
    return path


def test_backtest_writes_json_and_plot_and_reports_progress(tmp_path, capsys):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    args = _parse([
        "backtest", "--csv", str(_table(tmp_path)), "--objective", "eta", "--minimize",
        "--planners", "random", "--budget", "12", "--repeats", "3", "--initial", "2", "--seed", "4",
        "--json", str(out), "--plot", str(png),
    ])
    assert args.func(args) == 0
    result = json.loads(out.read_text())
    rnd = result["planners"]["random"]
    assert len(rnd["top_fraction"]) == 12 and result["inputs"] == ["a", "b"]
    assert rnd["enhancement_factor"] == rnd["top_fraction"][-1] / (12 / 50)
    assert png.read_bytes()[:4] == b"\x89PNG"
    captured = capsys.readouterr()
    assert "repeat 3/3" in captured.err
    assert "random" in captured.out and "enhancement" in captured.out


def test_headerless_file_with_column_names(tmp_path, capsys):
    args = _parse([
        "backtest", "--csv", str(_table(tmp_path, header=False)), "--no-header", "--columns", "ni,fe,eta",
        "--objective", "eta", "--minimize", "--inputs", "ni,fe", "--planners", "random",
        "--budget", "5", "--repeats", "1", "--initial", "1",
    ])
    assert args.func(args) == 0


def test_bad_input_is_reported_with_exit_code_2(tmp_path, capsys):
    table = str(_table(tmp_path))
    assert main(["backtest", "--csv", table, "--objective", "speed", "--maximize", "--planners", "random"]) == 2
    assert "no column named 'speed'" in capsys.readouterr().err
    assert main(["backtest", "--csv", table, "--objective", "eta", "--maximize", "--budget", "500"]) == 2
    assert "budget must be between 1 and the 50" in capsys.readouterr().err
    assert main(["backtest", "--csv", table, "--objective", "eta", "--maximize", "--options", "[1]"]) == 2
    err = capsys.readouterr().err
    assert "--options" in err and "Traceback" not in err
