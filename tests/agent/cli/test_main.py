"""CLI basics through the real command line: --version, sim --help, help everywhere, one-line errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from labpilot import __version__
from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign
from labpilot.agent.cli import build_parser, main
from labpilot.agent.store import Store
from tests.conftest import REPO


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"labpilot {__version__}"


def test_sim_help_reaches_the_simulator_entry_point() -> None:
    # A subprocess: ``sim`` replaces the process with the simulator's own command line.
    r = subprocess.run([sys.executable, "-m", "labpilot", "sim", "--help"], capture_output=True, text=True,
                       timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "unrecognized arguments" not in r.stderr
    assert "--zmq" in r.stdout and "--tcp" in r.stdout


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_argument_of_every_command_has_help() -> None:
    parser = build_parser()
    missing = [f"labpilot {a.dest}" for a in parser._actions if not a.help]
    commands = _subparsers(parser)
    assert {"run", "validate", "status", "sim", "backtest", "pause", "approve", "override"} <= set(commands)
    for name, sub in commands.items():
        missing += [f"{name} {'/'.join(a.option_strings) or a.dest}" for a in sub._actions if not a.help]
    assert missing == []


def test_operator_sub_parsers_come_from_the_registry() -> None:
    from labpilot.agent.control.commands import COMMANDS

    commands = _subparsers(build_parser())
    for name, command in COMMANDS.items():
        if command.cli:
            assert commands[name].description == command.help
    assert "ping" not in commands
    override = commands["override"].parse_args(["7", "--set", "Fe=0.5", "--reason", "hunch"])
    assert (override.arg_id, override.arg_values, override.arg_reason) == (7, ["Fe=0.5"], "hunch")


@pytest.fixture
def db(tmp_path: Path, alloy_campaign_file: Path) -> Path:
    c = load_campaign(alloy_campaign_file)
    s = Store.create(tmp_path / "c.db", c.name, c.model_dump(mode="json"), alloy_campaign_file.read_text())
    s.add_experiment({"Fe": 0.5, "Co": 0.5, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, st.AWAITING_APPROVAL, "planner", "bo")
    s.set_state("awaiting_approval")
    s.close()
    return tmp_path / "c.db"


def test_a_refused_override_prints_one_line_with_one_prefix(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["override", "1", "--set", "Xx=1", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labpilot override: unknown parameter(s) ['Xx']"), err
    assert err.count("override:") == 1 and "\n" not in err


def test_an_out_of_bounds_override_is_refused_with_one_prefix(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["override", "1", "--set", "Fe=1.4", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labpilot override: refused: Fe: 1.4 is above the upper bound"), err
    assert err.count("override") == 1


def test_a_bad_set_item_is_a_usage_error_naming_the_item(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["override", "1", "--set", "Fe", "--db", str(db)]) == 2
    assert capsys.readouterr().err.strip() == "labpilot override: --set item 'Fe' must look like NAME=VALUE"


def test_offline_operator_commands_run_the_registered_desk_method(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approve", "1", "--reason", "looks right", "--db", str(db)]) == 0
    assert "approve: experiment 1 is now approved (agent not running" in capsys.readouterr().out
    exp = Store.open(db).experiment(1)
    assert (exp.status, exp.reason) == ("approved", "looks right")
    assert main(["queue", "--json", "--db", str(db)]) == 0
    assert '"queue": [{"id": 1, "status": "approved"' in capsys.readouterr().out


def test_output_into_a_closed_pipe_ends_quietly(db: Path) -> None:
    """``labpilot queue --db DB | head -c 1``: the reader leaves early; no traceback, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "labpilot", "queue", "--json", "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
