"""XrdDriver against the XRD simulator process on real loopback TCP."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from labpilot.errors import InstrumentError, OptionsError, ProtocolError, SafetyLimitError, TransportTimeout
from labpilot.drivers import open_instrument

from labpilot.protocols.capabilities import Measurement, Measurer, Sample
from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds.alloy import AlloyWorld
from labpilot.simulators.worlds.polymer import PolymerWorld

FAST = {"speed": 1e6}
ZMQ = ("--zmq", "tcp://127.0.0.1:0")


@pytest.fixture
def rack(tmp_path: Path) -> dict[str, Path]:
    tray_path = tmp_path / "tray.db"
    with Tray(tray_path) as tray:
        tray.put("AF-00001", "alloy", AlloyWorld(3).deposit({"Fe": 150.0, "Co": 50.0, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, 600.0, 25.0, 0.5))
        tray.put("AF-00002", "alloy", AlloyWorld(3).deposit({"Fe": 0.0, "Co": 0.0, "Ni": 200.0, "Ir": 0.0, "Pt": 0.0}, 600.0, 25.0, 0.5))
        tray.put("PP-00001", "polymer", PolymerWorld(3).synthesize(300.0, 0.95, 45.0))
    return {"tray": tray_path, "ledger": tmp_path / "xrd.jsonl"}


@pytest.fixture
def sim_factory(rack, simulators):
    def make(*extra: str) -> str:
        return simulators("xrd", *ZMQ, "--tray", str(rack["tray"]), "--ledger", str(rack["ledger"]),
                          "--world-seed", "3", "--speed", "1e6", *extra).address

    return make


@pytest.fixture
def xrd(sim_factory):
    driver = open_instrument("xrd", sim_factory(), options=FAST, timeout_s=5)
    yield driver
    driver.close()


def test_default_scan_of_an_alloy_film(xrd, rack) -> None:
    assert isinstance(xrd, Measurer)
    assert xrd.identify().startswith("LABPILOT,XRD-SIM,")
    m = xrd.measure(Sample("AF-00001"), "scan-1")
    assert m.arrays["two_theta"].shape == m.arrays["counts"].shape == (3501,)
    assert m.arrays["two_theta"][0] == 20.0 and m.arrays["two_theta"][-1] == pytest.approx(90.0)
    assert 44.0 < m.scalars["peak_two_theta"] < 46.0  # bcc (110) of Fe75Co25
    fcc = xrd.measure(Sample("AF-00002"), "scan-2")
    assert 43.5 < fcc.scalars["peak_two_theta"] < 45.0  # fcc (111) of Ni: a different phase, a different pattern
    assert [e["command_id"] for e in read_ledger(rack["ledger"])] == ["scan-1", "scan-2"]


def test_polymer_campaign_range(sim_factory) -> None:
    options = {**FAST, "two_theta_start": 5.0, "two_theta_stop": 35.0, "two_theta_step": 0.02}
    with open_instrument("xrd", sim_factory(), options=options) as xrd:
        m = xrd.measure(Sample("PP-00001"), "p1")
    assert len(m.arrays["counts"]) == 1501 and 5.0 <= m.scalars["peak_two_theta"] <= 35.0


def test_same_command_id_never_scans_twice_and_outcome_gives_the_measurement(xrd, rack) -> None:
    first = xrd.measure(Sample("AF-00001"), "m1")
    again = xrd.measure(Sample("AF-00001"), "m1")
    np.testing.assert_array_equal(first.arrays["counts"], again.arrays["counts"])
    outcome = xrd.command_outcome("m1")
    assert outcome.state == "done"
    stored = Measurement(**outcome.result)
    np.testing.assert_array_equal(stored.arrays["counts"], first.arrays["counts"])
    assert stored.scalars == first.scalars
    assert xrd.command_outcome("m2").state == "unknown"
    assert len(read_ledger(rack["ledger"])) == 1


@pytest.mark.parametrize(
    ("limits", "options", "name"),
    [
        ({"max_scan_points": 1000}, {}, "max_scan_points"),
        ({"max_tube_power_w": 1000}, {"tube_power_w": 1500}, "max_tube_power_w"),
        ({"max_two_theta_deg": 80}, {}, "max_two_theta_deg"),
    ],
)
def test_safety_limits_refuse_before_sending(sim_factory, rack, limits, options, name) -> None:
    with open_instrument("xrd", sim_factory(), limits=limits, options={**FAST, **options}) as xrd:
        with pytest.raises(SafetyLimitError, match=name) as info:
            xrd.measure(Sample("AF-00001"), "x1")
        assert info.value.limit == name
        assert xrd.status()["scans"] == 0
        assert xrd.command_outcome("x1").state == "unknown"
    assert read_ledger(rack["ledger"]) == []


def test_bad_options_are_named_at_connect(sim_factory) -> None:
    address = sim_factory()
    with pytest.raises(OptionsError, match=r"options\.two_theta_stop: two_theta_stop \(10\) must exceed"):
        open_instrument("xrd", address, options={**FAST, "two_theta_stop": 10.0})
    with pytest.raises(OptionsError, match=r"options\.target: unknown option"):
        open_instrument("xrd", address, options={**FAST, "target": "Cu"})
    with pytest.raises(OptionsError, match=r"options\.dwell_s: must be a valid number"):
        open_instrument("xrd", address, options={**FAST, "dwell_s": "0.3"})


def test_bad_arguments_are_named(xrd) -> None:
    with pytest.raises(ValueError, match="command_id"):
        xrd.measure(Sample("AF-00001"), "")
    with pytest.raises(ValueError, match="Sample"):
        xrd.measure("AF-00001", "x1")  # type: ignore[arg-type]


def test_unknown_sample_is_an_instrument_error(xrd) -> None:
    with pytest.raises(InstrumentError, match="NOPE") as info:
        xrd.measure(Sample("NOPE"), "x1")
    assert info.value.code == 201


def test_faulty_link_still_completes_and_never_scans_twice(sim_factory, rack, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="labpilot.zmq")
    address = sim_factory("--faults", "drop=0.2,garble=0.2", "--seed", "11")
    with open_instrument("xrd", address, options={**FAST, "backoff_s": 0.0}, timeout_s=0.3, retries=12) as xrd:
        peaks = [xrd.measure(Sample("AF-00001"), f"f{i}").scalars["peak_two_theta"] for i in range(6)]
        stats = xrd.transport.stats
    assert all(44.0 < p < 46.0 for p in peaks)
    ids = [e["command_id"] for e in read_ledger(rack["ledger"])]
    assert sorted(ids) == [f"f{i}" for i in range(6)]  # every scan exactly once
    assert stats["timeouts"] > 0 and stats["garbled"] > 0
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == stats["retries"] > 0


def test_a_crashed_agent_reconciles_a_scan_in_flight(sim_factory, rack) -> None:
    address = sim_factory()
    first = open_instrument("xrd", address, options=FAST)
    started = first.request("scan", {"command_id": "inflight", "sample_id": "AF-00001",
                                     "start": 20.0, "stop": 90.0, "step": 0.02})
    assert started["state"] == "running"
    first.close()  # the agent dies here, before it saw the result
    with open_instrument("xrd", address, options=FAST) as second:
        outcome = second.command_outcome("inflight")
        assert outcome.state in ("running", "done")
        m = second.measure(Sample("AF-00001"), "inflight")  # safe: continues, does not rescan
    assert len(m.arrays["counts"]) == 3501
    assert len(read_ledger(rack["ledger"])) == 1


def test_a_scan_that_outlasts_its_wait_limit_times_out(rack, simulators) -> None:
    address = simulators("xrd", *ZMQ, "--tray", str(rack["tray"]), "--speed", "1").address
    # the driver believes the clock runs 10^6 times faster than the instrument's
    with open_instrument("xrd", address, options={"speed": 1e6}, timeout_s=0.3) as xrd:
        with pytest.raises(TransportTimeout, match="still running"):
            xrd.measure(Sample("AF-00001"), "slow")


def test_the_wrong_instrument_or_no_instrument_is_refused(tmp_path, simulators) -> None:
    robot = simulators("robot", *ZMQ, "--tray", str(tmp_path / "t.db"))
    address = robot.address
    with pytest.raises(ProtocolError, match="'robot'"):
        open_instrument("xrd", address)
    robot.stop(20)
    with pytest.raises(TransportTimeout):
        open_instrument("xrd", address, timeout_s=0.2, retries=1)
