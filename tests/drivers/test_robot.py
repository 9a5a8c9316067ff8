"""RobotDriver against the robot simulator process on real loopback TCP."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from labpilot.errors import InstrumentError, SafetyLimitError
from labpilot.drivers import open_instrument

from labpilot.drivers.robot import step_id
from labpilot.protocols.capabilities import Sample, Synthesizer
from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.tray import Tray

FAST = {"speed": 1e6}
PARAMS = {"molecular_weight": 300.0, "stereoregularity": 0.95, "cooling_temperature": 45.0}
STEPS = ["load_substrate", "dispense", "mix", "anneal", "transfer"]


@pytest.fixture
def lab(tmp_path: Path, simulators):
    """Start robot simulators on a shared tray and ledger; the ``simulators`` fixture stops them all."""
    paths = {"tray": tmp_path / "tray.db", "ledger": tmp_path / "robot.jsonl"}
    procs: list = []

    def start(*extra: str, kind: str = "robot") -> str:
        sim = simulators(kind, "--zmq", "tcp://127.0.0.1:0", "--tray", str(paths["tray"]),
                         "--ledger", str(paths["ledger"]), "--world-seed", "5", "--speed", "1e6", *extra)
        procs.append(sim)
        return sim.address

    paths["start"] = start
    paths["procs"] = procs
    return paths


def actions(path: Path) -> list[tuple[str, str]]:
    return [(e["action"], e["command_id"]) for e in read_ledger(path)]


def test_synthesize_runs_five_steps_and_puts_the_sample_in_the_tray(lab) -> None:
    with open_instrument("robot", lab["start"](), options=FAST) as robot:
        assert isinstance(robot, Synthesizer)
        sample = robot.synthesize(PARAMS, "exp-1")
    assert sample.sample_id == "PP-00001"
    assert sample.info["molecular_weight"] == 300.0 and sample.info["command_id"] == "exp-1"
    assert actions(lab["ledger"]) == [
        ("load_substrate", "exp-1/load"), ("dispense", "exp-1/dispense"), ("mix", "exp-1/mix"),
        ("anneal", "exp-1/anneal"), ("transfer", "exp-1/transfer"),
    ]
    with Tray(lab["tray"]) as tray:
        world, truth = tray.get("PP-00001")
    assert world == "polymer" and truth


def test_the_same_command_id_returns_the_same_sample_and_does_nothing(lab) -> None:
    with open_instrument("robot", lab["start"](), options=FAST) as robot:
        first = robot.synthesize(PARAMS, "exp-1")
        again = robot.synthesize(PARAMS, "exp-1")
        other = robot.synthesize(PARAMS, "exp-2")
        outcome = robot.command_outcome("exp-1")
    assert again == first and other.sample_id == "PP-00002"
    assert outcome.state == "done" and Sample(**outcome.result) == first
    assert len(read_ledger(lab["ledger"])) == 10


def test_a_sequence_cut_short_by_a_crash_resumes_without_repeating_steps(lab) -> None:
    address = lab["start"]()
    with open_instrument("robot", address, options=FAST) as dying_agent:
        loaded = dying_agent.run_action("load_substrate", {"command_id": step_id("exp-7", "load")})
        dying_agent.run_action("dispense", {"command_id": step_id("exp-7", "dispense"), "sample_id": loaded["sample_id"],
                                            "molecular_weight": 300.0, "stereoregularity": 0.95, "volume_ml": 5.0})
    with open_instrument("robot", address, options=FAST) as restarted:
        assert restarted.command_outcome("exp-7").state == "unknown"  # unfinished: synthesize again to resume
        sample = restarted.synthesize(PARAMS, "exp-7")
        assert restarted.command_outcome("exp-7").state == "done"
    assert sample.sample_id == loaded["sample_id"]
    assert [a for a, _ in actions(lab["ledger"])] == STEPS


def test_outcomes_survive_a_restart_of_the_robot(lab) -> None:
    with open_instrument("robot", lab["start"](), options=FAST) as robot:
        first = robot.synthesize(PARAMS, "exp-1")
    lab["procs"][0].stop(20)
    with open_instrument("robot", lab["start"](), options=FAST) as robot:
        assert robot.synthesize(PARAMS, "exp-1") == first
        assert robot.synthesize(PARAMS, "exp-2").sample_id == "PP-00002"  # ids never reused
    assert Counter(a for a, _ in actions(lab["ledger"])) == {s: 2 for s in STEPS}


@pytest.mark.parametrize(
    ("limits", "options", "params", "name"),
    [
        ({"max_anneal_temp_c": 200.0}, {}, PARAMS, "max_anneal_temp_c"),  # default melt 230 C
        ({"max_anneal_temp_c": 40.0}, {"melt_temp_c": 30.0}, PARAMS, "max_anneal_temp_c"),  # cooling 45 C
        ({"max_dispense_ml": 2.0}, {}, PARAMS, "max_dispense_ml"),
        ({"max_molecular_weight": 100.0}, {}, PARAMS, "max_molecular_weight"),
    ],
)
def test_safety_limits_refuse_before_anything_is_sent(lab, limits, options, params, name) -> None:
    with open_instrument("robot", lab["start"](), limits=limits, options={**FAST, **options}) as robot:
        with pytest.raises(SafetyLimitError, match=name):
            robot.synthesize(params, "exp-1")
        assert robot.status()["busy"] is False
    assert read_ledger(lab["ledger"]) == []


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"molecular_weight": 300.0, "stereoregularity": 0.95}, "missing cooling_temperature"),
        ({**PARAMS, "colour": 1.0}, "unknown colour"),
        ({**PARAMS, "stereoregularity": "high"}, "stereoregularity"),
        ({**PARAMS, "stereoregularity": 1.5}, "stereoregularity"),
        ({**PARAMS, "molecular_weight": float("nan")}, "molecular_weight"),
    ],
)
def test_bad_parameters_are_named(lab, params, words) -> None:
    with open_instrument("robot", lab["start"](), options=FAST) as robot:
        with pytest.raises(ValueError, match=words):
            robot.synthesize(params, "exp-1")
    assert read_ledger(lab["ledger"]) == []


def test_parameters_outside_the_world_are_an_instrument_error(lab) -> None:
    with open_instrument("robot", lab["start"](), options=FAST) as robot:
        with pytest.raises(InstrumentError) as info:
            robot.synthesize({**PARAMS, "molecular_weight": 1e7}, "exp-1")
    assert info.value.code == -222 and "molecular_weight" in info.value.message


def test_faulty_link_still_completes_and_no_step_is_done_twice(lab, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="labpilot.zmq")
    address = lab["start"]("--faults", "drop=0.2,garble=0.2", "--seed", "4")
    with open_instrument("robot", address, options={**FAST, "backoff_s": 0.0}, timeout_s=0.3, retries=12) as robot:
        samples = [robot.synthesize(PARAMS, f"exp-{i}") for i in range(3)]
        stats = robot.transport.stats
    assert [s.sample_id for s in samples] == ["PP-00001", "PP-00002", "PP-00003"]
    counts = Counter(actions(lab["ledger"]))
    assert len(counts) == 15 and set(counts.values()) == {1}
    assert stats["retries"] > 0
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == stats["retries"]


def test_make_safe_homes_the_arm_and_switches_the_heater_off(lab) -> None:
    with open_instrument("robot", lab["start"]("--speed", "1"), options={"speed": 1.0}) as robot:
        robot.request("load_substrate", {"command_id": "c/load"})  # a 60 s step, not waited for
        st = robot.status()
        assert st["busy"] is True and st["arm"] == "vial" and st["running"] == ["c/load"]
        robot.make_safe()
        st = robot.status()
        assert st["busy"] is False and st["arm"] == "home" and st["heater_c"] == 25.0
        assert robot.command_outcome("c").state == "failed"


def test_robot_made_sample_is_measured_by_the_diffractometer(lab) -> None:
    robot_address = lab["start"]()
    xrd_address = lab["start"](kind="xrd")
    with open_instrument("robot", robot_address, options=FAST) as robot:
        sample = robot.synthesize(PARAMS, "exp-1")
    options = {**FAST, "two_theta_start": 5.0, "two_theta_stop": 35.0}
    with open_instrument("xrd", xrd_address, options=options) as xrd:
        m = xrd.measure(sample, "exp-1/xrd")
    assert len(m.arrays["counts"]) == 1501 and m.arrays["counts"].max() > 0
