"""The ``folder`` driver (a drop folder) and the drop-folder simulator, as a real subprocess."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from labpilot import registry
from labpilot.drivers import open_instrument
from labpilot.drivers.generic.folder import FolderDriver, parse_options, parse_result
from labpilot.errors import ProtocolError, SimulatorError, TransportTimeout
from labpilot.protocols.capabilities import Measurer, Sample
from labpilot.simulators.ledger import read_ledger
from labpilot.simulators.process import SimulatorProcess
from labpilot.simulators.tray import Tray
from labpilot.simulators.worlds.alloy import AlloyWorld

XRD = {"pattern": "{sample_id}*.csv", "format": "csv", "scalars": {"peak_two_theta": "deg"},
       "arrays": {"two_theta": "deg", "counts": "1"}, "axes": ["two_theta"], "nominal_s": 60, "settle_s": 0.05}


def test_csv_with_metadata_lines():
    text = "# operator = ann\n# peak_two_theta: 44.6\ntwo_theta,counts\n20.0,5\n20.1,7\n"
    scalars, arrays = parse_result(text, parse_options(XRD), "f.csv")
    assert scalars == {"peak_two_theta": 44.6}
    np.testing.assert_array_equal(arrays["two_theta"], [20.0, 20.1])
    np.testing.assert_array_equal(arrays["counts"], [5.0, 7.0])


def test_csv_scalar_from_a_one_row_table():
    opts = parse_options({"pattern": "{sample_id}.csv", "format": "csv",
                          "scalars": {"sheet_resistance": "ohm/sq", "thickness_nm": "nm"}})
    scalars, arrays = parse_result("sample,sheet_resistance,thickness_nm\nS1,12.5,+3.1E+01\n", opts, "t.csv")
    assert scalars == {"sheet_resistance": 12.5, "thickness_nm": 31.0} and arrays == {}


def test_two_column_xy():
    opts = parse_options({"pattern": "{sample_id}.xy", "format": "xy", "xy_columns": ["two_theta", "counts"], "arrays": {"two_theta": "deg", "counts": "1"},
                          "scalars": {"peak_two_theta": "deg"}})
    scalars, arrays = parse_result("# peak_two_theta = 30\n10 1\n20\t3\n30;9\n", opts, "s.xy")
    assert scalars == {"peak_two_theta": 30.0} and arrays["counts"].tolist() == [1.0, 3.0, 9.0]


def test_json():
    opts = parse_options({"pattern": "{sample_id}.json", "format": "json", "scalars": {"peak_two_theta": "deg"}, "arrays": {"counts": "1"}})
    scalars, arrays = parse_result(json.dumps({"peak_two_theta": 44, "counts": [1, 2.5]}), opts, "s.json")
    assert scalars == {"peak_two_theta": 44.0} and arrays["counts"].tolist() == [1.0, 2.5]


@pytest.mark.parametrize("fmt, text, message", [
    ("csv", "two_theta,counts\n1,2\n", "no scalar 'peak_two_theta'"),
    ("csv", "# peak_two_theta = 4\ntwo_theta,cts\n1,2\n", "no column 'counts'"),
    ("csv", "# peak_two_theta = 4\ntwo_theta,counts\n1,lots\n", r"counts\[0\]: 'lots' is not a number"),
    ("json", '{"peak_two_theta": NaN, "two_theta": [], "counts": []}', "NaN"),
    ("json", '[1, 2]', "JSON object"),
])
def test_bad_files_are_named(fmt, text, message):
    with pytest.raises(ValueError, match=message):
        parse_result(text, parse_options({**XRD, "format": fmt}), "bad")


@pytest.mark.parametrize("options, message", [
    ({**XRD, "patern": "x"}, r"options.patern: unknown option"),
    ({**XRD, "pattern": "{sample}.csv"}, r"pattern\[0\]: .* uses \{sample\}"),
    ({**XRD, "pattern": "../{sample_id}.csv"}, "must stay inside the drop folder"),
    ({**XRD, "axes": ["theta"]}, r"axes: \['theta'\] are not declared arrays"),
    ({"pattern": "{sample_id}.csv", "format": "csv"}, "at least one scalar or array"),
    ({"format": "csv", "scalars": {"a": "1"}}, r"options.pattern: required option is missing"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        FolderDriver.for_options(options)


def test_the_class_describes_the_configuration():
    cls = registry.configured_class("folder", XRD)
    assert cls.role == "measure" and cls.scalars == {"peak_two_theta": "deg"} and cls.axes == ("two_theta",)
    assert cls.can_reconcile is False


def test_a_missing_folder_is_refused_at_connect(tmp_path):
    with pytest.raises(TransportTimeout, match="does not exist"):
        open_instrument("folder", str(tmp_path / "absent"), options=XRD)


def _drop_later(folder: Path, name: str, text: str, delay_s: float, chunks: int = 1) -> threading.Thread:
    """Write a file after ``delay_s``, in ``chunks`` appends (a slow writer), from another thread."""

    def run() -> None:
        time.sleep(delay_s)
        step = max(1, len(text) // chunks)
        with open(folder / name, "w") as fh:
            for i in range(0, len(text), step):
                fh.write(text[i:i + step])
                fh.flush()
                time.sleep(0.02)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_waits_for_the_file_and_reads_it_once_settled(tmp_path):
    text = "# peak_two_theta = 44.6\ntwo_theta,counts\n" + "".join(f"{20 + i / 10},{i}\n" for i in range(200))
    writer = _drop_later(tmp_path, "S7_scan01.csv", text, 0.2, chunks=5)
    (tmp_path / "S77_scan.csv").write_text("not this one")  # another sample's file: the glob must not take it
    with open_instrument("folder", str(tmp_path), options={**XRD, "settle_s": 0.15}, timeout_s=10) as drv:
        assert isinstance(drv, Measurer)
        m = drv.measure(Sample("S7"), "c-1")
        assert m.scalars == {"peak_two_theta": 44.6} and m.arrays["counts"].shape == (200,)
        assert drv.measure(Sample("S7"), "c-2").scalars == m.scalars  # a re-measure reads the same file
    writer.join()


def test_no_file_within_the_limit_is_a_timeout_naming_the_pattern(tmp_path):
    with open_instrument("folder", str(tmp_path), options={**XRD, "nominal_s": 0.01}, timeout_s=0.2) as drv:
        with pytest.raises(TransportTimeout, match=r"no file matching 'S9\*.csv'"):
            drv.measure(Sample("S9"), "c-1")


def test_a_file_that_never_parses_is_a_protocol_error(tmp_path):
    (tmp_path / "S3.csv").write_text("two_theta,counts\n1,2\n")
    with open_instrument("folder", str(tmp_path), options={**XRD, "nominal_s": 0.01, "settle_s": 0}, timeout_s=0.2) as drv:
        with pytest.raises(ProtocolError, match="no scalar 'peak_two_theta'"):
            drv.measure(Sample("S3"), "c-1")


def test_sample_ids_are_literal_in_the_glob(tmp_path):
    with open_instrument("folder", str(tmp_path), options=XRD) as drv:
        assert drv.glob_for("S-1+x") == "S-1+x*.csv"
        with pytest.raises(ValueError, match="cannot name a file safely"):
            drv.glob_for("../etc")


@pytest.mark.parametrize("fmt", ["csv", "xy", "json"])
def test_the_drop_folder_simulator_writes_what_the_driver_reads(tmp_path, fmt):
    tray_path, ledger, drop = tmp_path / "tray.db", tmp_path / "ledger.jsonl", tmp_path / "drop"
    opts = {**XRD, "format": fmt, "pattern": "{sample_id}." + fmt, "nominal_s": 120}
    if fmt == "xy":
        opts["xy_columns"] = ["two_theta", "counts"]
    stand_in = FolderDriver.stand_in(opts)
    assert stand_in is not None and stand_in.kind == "folder" and stand_in.transport == "folder"
    with Tray(tray_path) as tray:
        tray.put("FILM1", "alloy", AlloyWorld(0).deposit({"Fe": 150.0, "Co": 50.0}, 600.0))
    with SimulatorProcess("folder", "--folder", str(drop), *stand_in.args, "--speed", "1000",
                          "--tray", str(tray_path), "--ledger", str(ledger)) as sim:
        assert sim.address == str(drop.resolve())
        with open_instrument("folder", sim.address, options={**opts, "speed": 1000}, timeout_s=10) as drv:
            m = drv.measure(Sample("FILM1"), "x-1")
            with Tray(tray_path) as tray:  # a sample made later is scanned too
                tray.put("FILM2", "alloy", AlloyWorld(0).deposit({"Co": 100.0}, 600.0))
            m2 = drv.measure(Sample("FILM2"), "x-2")
    counts = m.arrays["counts"]
    assert m.arrays["two_theta"].shape == counts.shape == (701,)
    assert m.scalars["peak_two_theta"] == m.arrays["two_theta"][int(np.argmax(counts))]
    assert not np.array_equal(counts, m2.arrays["counts"])
    assert sorted(os.listdir(drop)) == [f"FILM1.{fmt}", f"FILM2.{fmt}"]  # no temporary file left behind
    assert [e["sample_id"] for e in read_ledger(ledger) if e["action"] == "scan"] == ["FILM1", "FILM2"]


def test_the_simulator_refuses_bad_options_with_its_own_message(tmp_path):
    sim = SimulatorProcess("folder", "--folder", str(tmp_path), "--option", "format=pdf")
    with pytest.raises(SimulatorError, match=r"format='pdf': use csv, xy or json"):
        sim.start()
