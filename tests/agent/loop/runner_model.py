"""A Hypothesis state machine that drives the real agent through random operator and crash interleavings.

Each example is one dry-run campaign: `labpilot run` as a subprocess against
simulator processes, with faults injected into one phase (synthesis, a
measurer, or ``make_safe``). Rules interleave what an operator and the night
do: wait, pause, pause --now, resume, approve/reject --all, a mode switch,
SIGKILL + restart with a new budget or mode, abort (rarely). After every step
the invariants of issue 10 are checked on the database and the simulators'
ledgers; at the end the campaign must be driven to a terminal state.

Used by ``tests/agent/loop/test_runner_model.py`` (bounded) and by
``benchmarks/soak_runner.py`` (long), which reads ``STATS``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hypothesis import strategies as hs
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from labpilot.agent.store import Store
from labpilot.simulators.ledger import read_ledger

REPO = Path(__file__).resolve().parents[3]
CAMPAIGN = REPO / "campaigns" / "alloy_magnetization.toml"
PHYSICAL = (("sputter", "deposit"), ("xrd", "scan"), ("magnetometer", "measure"))
FAULT_SPECS = ("sputter:error=0.25", "xrd:error=0.25", "magnetometer:error=0.2,magnetometer:garble=0.1",
               "xrd:error=0.25,magnetometer:safe_error=1,sputter:safe_error=1", "sputter:drop=0.15,xrd:garble=0.1")
TERMINAL = ("completed", "aborted")

STATS: Counter[str] = Counter()
"""Steps, kills, faults seen, duplicates, lost: summed over every example (for the soak's report)."""


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


class RunnerModel(RuleBasedStateMachine):
    """The model: what must hold whatever the interleaving."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="labpilot-model-"))
        self.db = self.tmp / "c.db"
        self.ledgers = self.tmp / "ledgers"
        self.proc: subprocess.Popen[str] | None = None
        self.completed_ids: set[int] = set()
        self.faults = ""
        self.budget = 4
        self.mode = "unattended"
        self.stderr: list[str] = []
        self.steps = 0

    # -- the agent ------------------------------------------------------------
    def _start(self, extra: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labpilot.agent.cli", "run", str(self.campaign), "--dry-run", "--db", str(self.db),
             "--speed", "5000", "--quiet", "--faults", self.faults, "--ledger-dir", str(self.ledgers),
             "--max-experiments", str(self.budget), "--mode", self.mode, *extra],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def _reap(self) -> None:
        """Collect the agent's stderr if it exited; a traceback or a bug exit code is a failure."""
        if self.proc is not None and self.proc.poll() is not None:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            if self.proc.stderr:
                self.proc.stderr.close()
            self.stderr.append(err)
            assert "Traceback" not in err, err[-3000:]
            assert self.proc.returncode not in (70, 1), (self.proc.returncode, err[-3000:])
            self.proc = None

    def _state(self) -> str:
        try:
            return Store.open(self.db).campaign()["state"]
        except Exception:
            return ""

    @initialize(faults=hs.sampled_from(FAULT_SPECS), budget=hs.integers(3, 5),
                mode=hs.sampled_from(["unattended", "supervised"]))
    def start(self, faults: str, budget: int, mode: str) -> None:
        text = CAMPAIGN.read_text().replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
        self.campaign = self.tmp / "c.toml"
        self.campaign.write_text(text.replace("initial_design = 6", "initial_design = 1")
                                 .replace("timeout_s = 2.0", "timeout_s = 0.5"))
        self.faults, self.budget, self.mode = faults, budget, mode
        self._start()
        deadline = time.monotonic() + 90
        # the agent takes seconds to start (imports): let the rules act on a working campaign
        while self._state() in ("", "idle") and time.monotonic() < deadline:
            time.sleep(0.1)
        STATS["examples"] += 1

    # -- rules ----------------------------------------------------------------
    @rule(seconds=hs.sampled_from([0.3, 1.0, 2.5]))
    def wait(self, seconds: float) -> None:
        time.sleep(seconds)
        STATS["steps"] += 1

    @rule(now=hs.booleans())
    def pause(self, now: bool) -> None:
        if self._state() not in TERMINAL + ("paused",):
            _cli("pause", *(["--now"] if now else []), "--db", str(self.db))
        STATS["steps"] += 1

    @rule()
    def resume(self) -> None:
        if self._state() in ("paused", "faulted"):
            if self._state() == "faulted":
                STATS["faults"] += 1
            _cli("resume", "--db", str(self.db))
        STATS["steps"] += 1

    @rule(approve=hs.booleans())
    def review_all(self, approve: bool) -> None:
        _cli("approve" if approve else "reject", "--all", "--db", str(self.db))
        STATS["steps"] += 1

    @rule(mode=hs.sampled_from(["unattended", "supervised"]))
    def switch_mode(self, mode: str) -> None:
        if self._state() not in TERMINAL:
            self.mode = mode
            _cli("mode", mode, "--db", str(self.db))
        STATS["steps"] += 1

    @rule(extra=hs.integers(0, 2), mode=hs.sampled_from(["unattended", "supervised"]))
    def kill_and_restart(self, extra: int, mode: str) -> None:
        STATS["kill_rules"] += 1
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
            STATS["kills"] += 1
        self._reap()
        self.proc = None
        if self._state() in TERMINAL:
            return
        self.budget += extra  # a budget change on restart
        self.mode = mode
        self._start()
        STATS["steps"] += 1

    @precondition(lambda self: self.steps >= 4)
    @rule(roll=hs.integers(0, 9))
    def abort(self, roll: int) -> None:
        """Rarely (an abort ends the example), and not before a few other steps."""
        if roll == 9 and self._state() not in TERMINAL:
            _cli("abort", "--reason", "model", "--db", str(self.db))
        STATS["steps"] += 1

    # -- invariants ----------------------------------------------------------
    @invariant()
    def nothing_made_twice_nothing_lost_budget_holds(self) -> None:
        self.steps += 1
        self._reap()
        if not self._state():
            return
        store = Store.open(self.db)
        try:
            for name, action in PHYSICAL:
                ids = [r["command_id"] for r in read_ledger(self.ledgers / f"{name}.jsonl") if r["action"] == action]
                dupes = len(ids) - len(set(ids))
                STATS["duplicates"] += dupes
                assert dupes == 0, (name, sorted(ids))
            exps = store.experiments()
            completed = {e.id for e in exps if e.status == "completed"}
            lost = self.completed_ids - completed
            STATS["lost"] += len(lost)
            assert not lost, f"completed experiments lost: {lost}"
            self.completed_ids = completed
            for e in exps:
                if e.status == "completed":
                    assert "magnetization" in e.scalars, e  # a completed experiment keeps its measurement
            config = store.campaign()["config"]
            counted = sum(1 for e in exps if e.status not in ("rejected", "abandoned"))
            assert counted <= config["budget"]["max_experiments"], (counted, config["budget"])
            # the journal agrees with the experiments table
            kinds: dict[int, list[str]] = {}
            for ev in store.events():
                if ev["experiment_id"] is not None:
                    kinds.setdefault(ev["experiment_id"], []).append(ev["kind"])
            for e in exps:
                if e.status == "completed":
                    assert "completed" in kinds.get(e.id, []), (e.id, kinds.get(e.id))
        finally:
            store.close()

    # -- the end ----------------------------------------------------------------
    def teardown(self) -> None:
        try:
            self._drive_to_the_end()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(30)
            try:
                from labpilot.agent.dryrun import load_simulators, stop_simulators

                stop_simulators(load_simulators(Store.open(self.db)))
            except Exception:
                pass
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _drive_to_the_end(self) -> None:
        """Every faulted or paused campaign can be resumed to completion (or is aborted, if asked)."""
        deadline = time.monotonic() + 180
        while self._state() not in TERMINAL and time.monotonic() < deadline:
            self._reap()
            if self.proc is None:
                self._start()
            state = self._state()
            if state in ("paused", "faulted"):
                if state == "faulted":
                    STATS["faults"] += 1
                _cli("resume", "--db", str(self.db))
            if state == "awaiting_approval":
                _cli("approve", "--all", "--db", str(self.db))
            time.sleep(0.3)
        assert self._state() in TERMINAL, f"campaign stuck in {self._state()!r}"
        if self.proc is not None:
            self.proc.wait(60)
            self._reap()
        self.nothing_made_twice_nothing_lost_budget_holds()
        STATS["finished_" + self._state()] += 1
