"""``labpilot backtest`` features of issue 13: categorical inputs, measured descriptors, priors, spreads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labpilot.agent.cli import main

DATA = Path(__file__).resolve().parents[2] / "data" / "backtest"
SOLVENTS = str(DATA / "solvents.csv")


def test_a_categorical_column_is_an_input_and_the_help_example_runs(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["backtest", "--csv", SOLVENTS, "--objective", "yield", "--maximize", "--planners", "random,bo",
               "--budget", "6", "--repeats", "2", "--initial", "3", "--json", str(out),
               "--options", '{"bo": {"acquisition": "ucb"}}'])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["inputs"] == ["solvent", "temperature", "concentration"]
    assert result["categorical"] == {"solvent": ["DMF", "THF", "toluene"]}
    bo = result["planners"]["bo"]
    assert len(bo["repeats"]) == 2 and len(bo["top_fraction_sd"]) == 6
    assert all(len(r["picked"]) == 6 and r["seconds_per_proposal"] > 0 for r in bo["repeats"])
    assert bo["seconds_per_proposal"] > 0 and "enhancement_factor_sd" in bo
    text = capsys.readouterr()
    assert "categorical ['solvent']" in text.err and "s/proposal" in text.out and "per repeat" in text.out


def test_forcing_a_text_column_as_input_works(tmp_path):
    assert main(["backtest", "--csv", SOLVENTS, "--objective", "yield", "--maximize", "--planners", "random",
                 "--inputs", "solvent,temperature", "--budget", "4", "--repeats", "1", "--initial", "2"]) == 0


def test_an_id_like_text_column_is_left_out_with_a_warning(tmp_path, capsys):
    lines = ["sample,a,y"] + [f"s{i},{i % 7},{(i % 7 - 3) ** 2}" for i in range(30)]
    path = tmp_path / "ids.csv"
    path.write_text("\n".join(lines) + "\n")
    assert main(["backtest", "--csv", str(path), "--objective", "y", "--minimize", "--planners", "random",
                 "--budget", "4", "--repeats", "1", "--initial", "1"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "'sample' has 30 distinct values" in err


def test_a_header_made_of_numbers_is_warned_about(tmp_path, capsys):
    path = tmp_path / "plate.csv"
    path.write_text("".join(f"0.{i},0.{9 - i},{i}\n" for i in range(10)))
    assert main(["backtest", "--csv", str(path), "--objective", "2", "--minimize", "--planners", "random",
                 "--budget", "3", "--repeats", "1", "--initial", "1"]) == 0
    assert "pass --no-header" in capsys.readouterr().err


@pytest.mark.parametrize("planner", ["used", "boed"])
def test_planners_that_model_measured_data_are_refused_without_it(planner, capsys):
    rc = main(["backtest", "--csv", str(DATA / "measured.csv"), "--objective", "p", "--maximize",
               "--inputs", "a,b", "--planners", f"random,{planner}", "--budget", "6", "--repeats", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert f"planner {planner!r} models measured descriptors" in err and "--measured" in err


def test_measured_columns_reach_used_and_are_not_inputs(tmp_path):
    out = tmp_path / "r.json"
    assert main(["backtest", "--csv", str(DATA / "measured.csv"), "--objective", "p", "--maximize",
                 "--measured", "z*", "--planners", "used", "--budget", "6", "--repeats", "1", "--initial", "3",
                 "--json", str(out), "--options", '{"used": {"n_components": 2, "n_mc": 8}}']) == 0
    result = json.loads(out.read_text())
    assert result["inputs"] == ["a", "b"] and result["measured"] == [f"z{i}" for i in range(8)]


def test_a_prior_table_reaches_bo_only(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["backtest", "--csv", SOLVENTS, "--objective", "yield", "--maximize", "--planners", "random,bo",
               "--prior", str(DATA / "solvents_prior.csv"), "--budget", "7", "--repeats", "1", "--initial", "5",
               "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["priors"] == ["solvents_prior.csv"]
    assert result["planners"]["bo"]["uses_priors"] and not result["planners"]["random"]["uses_priors"]
    assert "bo +prior" in capsys.readouterr().out


def test_a_prior_no_planner_uses_or_a_bad_prior_is_refused(tmp_path, capsys):
    assert main(["backtest", "--csv", SOLVENTS, "--objective", "yield", "--maximize", "--planners", "random",
                 "--prior", str(DATA / "solvents_prior.csv"), "--budget", "4", "--repeats", "1", "--initial", "2"]) == 2
    assert "none of the planners ['random'] uses prior data" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("solvent,temperature,yield\nDMF,50,1\nTHF,60,2\n")
    assert main(["backtest", "--csv", SOLVENTS, "--objective", "yield", "--maximize", "--planners", "bo",
                 "--prior", str(bad), "--budget", "4", "--repeats", "1", "--initial", "2"]) == 2
    assert "covers no column for ['concentration']" in capsys.readouterr().err


def test_protocol_liang_sets_two_initial_rows_unless_given(tmp_path):
    out = tmp_path / "r.json"
    args = ["backtest", "--csv", SOLVENTS, "--objective", "yield", "--maximize", "--planners", "random",
            "--budget", "4", "--repeats", "1", "--protocol", "liang", "--json", str(out)]
    assert main(args) == 0
    assert json.loads(out.read_text())["initial"] == 2 and json.loads(out.read_text())["protocol"] == "liang"
    assert main(args + ["--initial", "3"]) == 0
    assert json.loads(out.read_text())["initial"] == 3
