"""An honest operator for tests: looks at the (simulated) instrument, then tells `labpilot resolve` the truth.

Also the campaign it is tested with: the alloy campaign with two instruments set to `reconcile = false`.

The agent cannot ask an instrument that does not reconcile what became of a
command id; a person in the lab can look. Here "looking" is a separate
connection of the real driver to the simulator process, asking it by command
id (the simulator keeps every outcome), waiting while the step still runs.
The answer goes through the real CLI, as a separate process, like an operator's.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from labpilot.agent.dryrun import load_simulators
from labpilot.agent.store import Store
from labpilot.drivers import open_instrument
from labpilot.protocols.capabilities import CommandOutcome
from tests.conftest import REPO


def non_reconciling_campaign(tmp_path: Path, alloy_campaign_file: Path, pipeline: bool = False) -> Path:
    """The alloy campaign, random planner, with the sputter system and the magnetometer unable to reconcile."""
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    text = text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 3")
    text = text.replace("[instruments.options]\ntargets", "[instruments.options]\nreconcile = false\ntargets")
    text = text.replace('address = "/dev/ttyUSB1"', 'address = "/dev/ttyUSB1"\noptions = { reconcile = false }')
    if pipeline:
        text = text.replace("pipeline = false", "pipeline = true")
    path = tmp_path / "no-memory.toml"
    path.write_text(text)
    return path


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``labpilot ARGS`` as a separate process."""
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def look(kind: str, address: str, command_id: str, speed: float, timeout_s: float = 60.0) -> CommandOutcome:
    """What the instrument did with ``command_id``, once it is no longer running."""
    inst = open_instrument(kind, address, options={"speed": speed}, timeout_s=2.0, retries=4)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            outcome = inst.command_outcome(command_id)
            if outcome.state != "running":
                return outcome
            assert time.monotonic() < deadline, f"{kind}: {command_id} still running after {timeout_s}s"
            time.sleep(0.05)
    finally:
        inst.close()


def answer(outcome: CommandOutcome, action: str) -> list[str]:
    """The truthful `resolve` flags for what the instrument says."""
    if outcome.state == "unknown":  # it never got the command
        return ["--not-made"]
    if outcome.state == "failed":
        return ["--failed", "--reason", f"the instrument says: {outcome.error}"]
    assert outcome.state == "done" and outcome.result is not None, outcome
    if action == "synthesize":
        return ["--made", "--sample", str(outcome.result["sample_id"])]
    flags = ["--made"]
    for name, value in outcome.result["scalars"].items():
        flags += ["--value", f"{name}={float(value)!r}"]
    return flags


def resolve_unknown(db: Path, speed: float) -> list[tuple[int, str, str]]:
    """Settle every unknown outcome truthfully; return (experiment, command id, flag) for each."""
    store = Store.open(db)
    try:
        unknown = store.commands("unknown")
        sims = {s.instrument: s for s in load_simulators(store)}
    finally:
        store.close()
    said = []
    for cmd in unknown:
        sim = sims[cmd["instrument"]]
        flags = answer(look(sim.kind, sim.address, cmd["id"], speed), cmd["action"])
        r = cli("resolve", str(cmd["experiment_id"]), *flags, "--db", str(db))
        assert r.returncode == 0, r.stderr
        said.append((int(cmd["experiment_id"]), str(cmd["id"]), flags[0]))
    return said
