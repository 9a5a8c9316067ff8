"""The ``command`` driver against real programs (subprocesses): input, output, failures, parallel runs."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from labpilot.drivers import open_instrument
from labpilot.drivers.generic.command import CommandDriver
from labpilot.errors import ConfigurationError, InstrumentError
from labpilot.protocols.capabilities import Sample

PY = sys.executable


def program(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("import json, os, sys, time\n" + body)
    return str(path)


def driver(argv: list[str], **options: object) -> CommandDriver:
    opts = {"role": "measure", "argv": argv, "scalars": {"y": "au"}, **options}
    return open_instrument("command", "local", options=opts)


def test_params_go_in_as_json_on_stdin_and_the_result_comes_back_on_stdout(tmp_path: Path) -> None:
    prog = program(tmp_path, "square.py", """
req = json.load(sys.stdin)
print("log line before the result")
print(json.dumps({"y": req["params"]["x"] ** 2, "id": req["command_id"], "sample": req["sample"]}))
""")
    with driver([PY, prog]) as inst:
        m = inst.measure(Sample("s1", {"params": {"x": 3.0}, "grain_nm": 7}), "cid-1")
    assert m.scalars == {"y": 9.0}


def test_parameters_can_be_templated_into_the_command_line_and_read_from_a_result_file(tmp_path: Path) -> None:
    prog = program(tmp_path, "argv.py", """
x, out = float(sys.argv[1]), sys.argv[2]
open(out, "w").write(json.dumps({"scalars": {"y": x + 1}}))
""")
    opts = {"stdin": False, "result_file": "out-{command_id}.json", "cwd": str(tmp_path)}
    with driver(["{python}", prog, "{x}", "{result_file}"], **opts) as inst:
        assert inst.measure(Sample("s", {"params": {"x": 41}}), "c7").scalars == {"y": 42.0}
        assert (tmp_path / "out-c7.json").is_file()
        # a result file keyed by the command id tells what became of it; nothing else can be known
        assert inst.command_outcome("c7").state == "done"
        assert inst.command_outcome("c8").state == "unknown"
    assert CommandDriver.can_reconcile is False


def test_a_failing_program_fails_the_experiment_with_the_tail_of_its_stderr(tmp_path: Path) -> None:
    prog = program(tmp_path, "fail.py", """
print("x" * 5000, file=sys.stderr)
print("the relaxation diverged", file=sys.stderr)
sys.exit(3)
""")
    with driver([PY, prog]) as inst, pytest.raises(InstrumentError) as err:
        inst.measure(Sample("s", {"params": {}}), "cid-f")
    text = str(err.value)
    assert "exit code 3" in text and "cid-f" in text and text.rstrip().endswith("the relaxation diverged")
    assert len(text) < 2500  # a tail, not the whole stderr


def test_output_without_the_declared_scalars_is_refused_by_name(tmp_path: Path) -> None:
    for body, expect in (('print("no json here")', "holds no JSON object"),
                         ('print(json.dumps({"z": 1}))', "y is missing"),
                         ('print(json.dumps({"y": "high"}))', "y is 'high', not a finite number")):
        prog = program(tmp_path, "bad.py", body)
        with driver([PY, prog]) as inst, pytest.raises(InstrumentError, match=expect):
            inst.measure(Sample("s", {"params": {}}), "cid-b")


def test_a_run_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    prog = program(tmp_path, "hang.py", f"""
import subprocess
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open({str(pidfile)!r}, "w").write(str(child.pid))
print("started a child", file=sys.stderr, flush=True)
time.sleep(600)
""")
    with driver([PY, prog], run_timeout_s=3) as inst, pytest.raises(InstrumentError) as err:
        inst.measure(Sample("s", {"params": {}}), "cid-t")
    assert "options.run_timeout_s = 3s" in str(err.value) and "started a child" in str(err.value)
    child = int(pidfile.read_text())
    for _ in range(100):  # the process group was SIGKILLed: the grandchild goes too
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        threading.Event().wait(0.05)
    else:
        pytest.fail("the program's child outlived the timeout")


def _barrier_program(tmp_path: Path, width: int) -> str:
    """Each run waits until ``width`` runs are in at once (or gives up): only parallel runs all succeed."""
    marks = tmp_path / "marks"
    marks.mkdir()
    return program(tmp_path, "barrier.py", f"""
req = json.load(sys.stdin)
mine = os.path.join({str(marks)!r}, req["command_id"])
open(mine, "w").close()
seen = 0
for _ in range(600):
    seen = max(seen, len(os.listdir({str(marks)!r})))
    if seen >= {width}:
        break
    time.sleep(0.05)
time.sleep(0.2)
seen = max(seen, len(os.listdir({str(marks)!r})))
os.remove(mine)
print(json.dumps({{"y": seen}}))
""")


def test_up_to_max_parallel_runs_go_at_once_and_never_more(tmp_path: Path) -> None:
    prog = _barrier_program(tmp_path, 2)
    results: list[float] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results.append(inst.measure(Sample(f"s{i}", {"params": {}}), f"cid-{i}").scalars["y"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with driver([PY, prog], max_parallel=2) as inst:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors and len(results) == 6
    assert max(results) == 2  # two ran together (each saw the other), never a third


def test_make_safe_kills_the_runs_in_flight(tmp_path: Path) -> None:
    started = tmp_path / "started"
    prog = program(tmp_path, "slow.py", f"open({str(started)!r}, 'w').close(); time.sleep(600)")
    with driver([PY, prog]) as inst:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                inst.measure(Sample("s", {"params": {}}), "cid-s")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=run)
        t.start()
        for _ in range(400):
            if started.exists():
                break
            threading.Event().wait(0.05)
        assert inst.status()["running"] == 1
        inst.make_safe()
        t.join(60)
    assert not t.is_alive() and "killed by signal 9" in str(errors[0])


def test_configuration_errors_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"options.argv\[0\] 'no-such-program-xyz' is not a program"):
        driver(["no-such-program-xyz"])
    with pytest.raises(ConfigurationError, match=r"options.argv.*at least 1 item"):
        driver([])
    with pytest.raises(ConfigurationError, match=r"options.max_parallel"):
        driver([PY], max_parallel=0)
    with pytest.raises(ConfigurationError, match=r"options.role"):
        open_instrument("command", "local", options={"argv": [PY]})
    with driver([PY, "-c", "pass", "{missing}"]) as inst, pytest.raises(
            InstrumentError, match=r"options.argv\[3\]: \{missing\} names no parameter"):
        inst.measure(Sample("s", {"params": {"x": 1}}), "cid-m")
    # the script {python} runs: relative to cwd (the campaign's folder, set on loading), refused at setup
    with pytest.raises(ConfigurationError, match=r"options.argv\[2\] 'nope.py' is not a file \(the script"):
        driver(["{python}", "-u", "nope.py"], cwd=str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"options.cwd '.*/gone' is not a directory"):
        driver(["{python}", "nope.py"], cwd=str(tmp_path / "gone"))
    program(tmp_path, "here.py", "print(json.dumps({'y': 1.0}))\n")
    with driver(["{python}", "here.py"], cwd=str(tmp_path)) as inst:  # found in cwd, not the working directory
        assert inst.measure(Sample("s", {"params": {}}), "cid-h").scalars == {"y": 1.0}


def test_a_synthesizer_returns_the_sample_and_keeps_its_params(tmp_path: Path) -> None:
    prog = program(tmp_path, "make.py", """
req = json.load(sys.stdin)
print(json.dumps({"sample_id": "film-" + req["command_id"], "thickness": 12}))
""")
    inst = open_instrument("command", "local", options={"role": "synthesize", "argv": [PY, prog]})
    with inst:
        sample = inst.synthesize({"x": 2.5}, "c1")
    assert sample.sample_id == "film-c1" and sample.info == {"thickness": 12, "params": {"x": 2.5}}
    assert CommandDriver.for_options({"role": "synthesize"}).role == "synthesize"
    assert CommandDriver.for_options({"role": "measure", "argv": ["x"], "scalars": {"y": "nm"}}).scalars == {"y": "nm"}
