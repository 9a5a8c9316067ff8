"""The ``command`` driver reconciles by a per-command result file and its run marker (real subprocesses).

After a restart a command id is done (its result file is read, the program is
not run again), running (an orphan the earlier agent started: waited for),
failed (its process ended without a result, or it was being started when the
agent died: not run again), or unknown (never started: run).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.drivers import open_instrument
from labpilot.drivers.generic.command import CommandDriver, _proc_start
from labpilot.errors import InstrumentError
from labpilot.protocols.capabilities import Sample

PY = sys.executable
#: Appends its command id to runs.log (one line per run), sleeps SLEEP seconds, writes its result file.
PROGRAM = """
import json, os, sys, time
req = json.load(sys.stdin)
with open(os.path.join(os.path.dirname(sys.argv[1]), "runs.log"), "a") as fh:
    fh.write(req["command_id"] + "\\n")
time.sleep(float(os.environ.get("SLEEP", "0")))
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as fh:
    json.dump({"y": len(req["command_id"])}, fh)
os.replace(tmp, sys.argv[1])
"""


@pytest.fixture
def prog(tmp_path: Path) -> str:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    return str(path)


def driver(prog: str, runs: Path, **options: object) -> CommandDriver:
    opts = {"role": "measure", "argv": [PY, prog, "{result_file}"], "scalars": {"y": "au"},
            "result_file": str(runs / "{command_id}.json"), **options}
    return open_instrument("command", "local", options=opts)


def runs_of(runs: Path) -> list[str]:
    log = runs / "runs.log"
    return log.read_text().split() if log.exists() else []


def test_only_a_result_file_keyed_by_the_command_id_alone_reconciles() -> None:
    base = {"role": "measure", "argv": ["prog"], "scalars": {"y": "au"}}
    assert CommandDriver.for_options({**base, "result_file": "runs/{command_id}.json"}).can_reconcile is True
    assert CommandDriver.for_options({**base, "result_file": "runs/{x}-{command_id}.json"}).can_reconcile is False
    assert CommandDriver.for_options({**base, "result_file": "runs/out.json"}).can_reconcile is False
    assert CommandDriver.for_options(base).can_reconcile is False
    assert CommandDriver.can_reconcile is False  # the kind itself, without options


def test_a_finished_command_is_read_back_not_run_again(tmp_path: Path, prog: str) -> None:
    runs = tmp_path / "runs"
    with driver(prog, runs) as inst:
        assert inst.command_outcome("c-1").state == "unknown"  # never started
        first = inst.measure(Sample("s", {"params": {}}), "c-1")
    marker = json.loads((runs / "c-1.json.started").read_text())
    assert isinstance(marker["pid"], int) and marker["command_id"] == "c-1"
    with driver(prog, runs) as again:  # a new agent, after a restart
        outcome = again.command_outcome("c-1")
        assert outcome.state == "done" and outcome.result == {"y": 3}
        assert again.measure(Sample("s", {"params": {}}), "c-1").scalars == first.scalars
    assert runs_of(runs) == ["c-1"]


def _orphan(prog: str, runs: Path, cid: str, sleep: float) -> subprocess.Popen[bytes]:
    """Start the program as an earlier agent would have, and write its marker as the driver does."""
    runs.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([PY, prog, str(runs / f"{cid}.json")], stdin=subprocess.PIPE, start_new_session=True,
                            env={"SLEEP": str(sleep), "PATH": ""})
    (runs / f"{cid}.json.started").write_text(json.dumps({"command_id": cid, "pid": proc.pid,
                                                          "start": _proc_start(proc.pid), "at": time.time()}))
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"command_id": cid, "params": {}}).encode())
    proc.stdin.close()
    return proc


def test_a_command_still_running_from_an_earlier_agent_is_waited_for_not_rerun(tmp_path: Path, prog: str) -> None:
    runs = tmp_path / "runs"
    orphan = _orphan(prog, runs, "c-22", sleep=1.5)
    try:
        with driver(prog, runs) as inst:
            assert inst.command_outcome("c-22").state == "running"
            m = inst.measure(Sample("s", {"params": {}}), "c-22")
        assert m.scalars == {"y": 4.0}
    finally:
        orphan.wait(timeout=60)
    assert runs_of(runs) == ["c-22"]


def test_a_command_whose_process_ended_without_a_result_fails_and_is_not_rerun(tmp_path: Path, prog: str) -> None:
    runs = tmp_path / "runs"
    orphan = _orphan(prog, runs, "c-3", sleep=30)
    orphan.kill()
    orphan.wait(timeout=60)
    (runs / "runs.log").unlink(missing_ok=True)
    with driver(prog, runs) as inst:
        outcome = inst.command_outcome("c-3")
        assert outcome.state == "failed" and "without a result" in (outcome.error or "")
        with pytest.raises(InstrumentError, match="ended without writing"):
            inst.measure(Sample("s", {"params": {}}), "c-3")
    assert runs_of(runs) == []


def test_a_command_the_agent_died_starting_is_not_run_again(tmp_path: Path, prog: str) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "c-4.json.started").write_text(json.dumps({"command_id": "c-4", "pid": None, "at": time.time()}))
    with driver(prog, runs) as inst:
        assert inst.command_outcome("c-4").state == "failed"
        with pytest.raises(InstrumentError, match="cannot be known"):
            inst.measure(Sample("s", {"params": {}}), "c-4")
    assert runs_of(runs) == []


def test_a_failed_run_leaves_its_marker_and_no_result(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    bad = tmp_path / "bad.py"
    bad.write_text("import sys; sys.stdin.read(); print('SCF did not converge', file=sys.stderr); sys.exit(3)")
    with driver(str(bad), runs) as inst:
        with pytest.raises(InstrumentError, match="SCF did not converge"):
            inst.measure(Sample("s", {"params": {}}), "c-5")
        assert inst.command_outcome("c-5").state == "failed"
    assert (runs / "c-5.json.started").exists() and not (runs / "c-5.json").exists()
