"""Parallel execution through real dry runs: capacity per instrument, pause, pause --now and faults.

Kill-and-resume is in ``test_parallel_kill.py``; speed is measured by
``benchmarks/batch_busy.py``, never asserted here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from labpilot.agent.dryrun import load_simulators, stop_simulators
from labpilot.agent.store import Store
from labpilot.errors import StoreError
from labpilot.simulators.ledger import read_ledger
from labpilot.testing.campaigns import film_campaign as film_toml, film_simulation
from tests.agent.loop.parallel_campaign import parallel_campaign
from tests.conftest import REPO

pytestmark = pytest.mark.slow


FILM_MODEL = REPO / "campaigns" / "sim" / "film_model.py"


def film_campaign(path: Path, *, parallel: int, max_parallel: int, budget: int, delay: float,
                  argv: list[str] | None = None, planner: str = "random", mode: str | None = None) -> Path:
    """A python synthesizer (the virtual film) and a slow ``command`` measurer taking ``max_parallel`` runs."""
    measurer = film_simulation(FILM_MODEL, delay=delay, max_parallel=max_parallel, argv=argv)
    path.write_text(film_toml(FILM_MODEL, [measurer], name="film-parallel", parallel=parallel, budget=budget,
                              planner=planner, mode=mode))
    return path


def most_at_once(store: Store, instrument: str) -> int:
    """The most commands of ``instrument`` journaled as running at the same time (sent .. finished)."""
    edges = []
    for c in store.commands():
        if c["instrument"] == instrument and c["finished"] is not None:
            edges += [(c["sent"], 1), (c["finished"], -1)]
    most = now = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):  # a finish before a start at the same instant
        now += step
        most = max(most, now)
    return most


def _run(campaign: Path, db: Path, *extra: str, ledgers: Path | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
            "--speed", "2000", "--quiet", *extra]
    if ledgers is not None:
        args += ["--ledger-dir", str(ledgers)]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except StoreError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_command_instrument_runs_up_to_max_parallel_experiments_at_once(tmp_path: Path) -> None:
    campaign = film_campaign(tmp_path / "film.toml", parallel=4, max_parallel=3, budget=9, delay=0.4)
    db = tmp_path / "film.db"
    proc = _run(campaign, db)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    store = Store.open(db)
    assert store.counts()["completed"] == 9
    # Several at once on the one instrument, never more than its capacity (max_parallel).
    assert 2 <= most_at_once(store, "simulation") <= 3
    assert most_at_once(store, "film") == 1  # a python instrument takes one command at a time
    ids = [c["id"] for c in store.commands() if c["instrument"] == "simulation"]
    assert len(ids) == len(set(ids)) == 9  # each experiment its own command id


def test_pause_now_and_deferred_pause_with_a_batch_in_flight(tmp_path: Path) -> None:
    """``pause --now`` leaves the running commands to finish while held; a deferred pause waits for them."""
    campaign = film_campaign(tmp_path / "p.toml", parallel=4, max_parallel=4, budget=10, delay=2.0)
    db = tmp_path / "p.db"

    def running() -> int:
        return sum(1 for c in Store.open(db).commands("sent") if c["instrument"] == "simulation")

    proc = _run(campaign, db)
    try:
        _wait(lambda: running() >= 2, "a batch in flight")
        Store.open(db).request_pause(now=True)
        _wait(lambda: Store.open(db).campaign()["state"] == "paused", "paused (now)")
        # It did not wait: commands still journaled as running (their results are journaled on resume).
        _wait(lambda: bool(Store.open(db).events(kind="paused_in_flight")), "paused_in_flight (after the state)")
        assert running() >= 1
        store = Store.open(db)
        store.request_resume("test")
        _wait(lambda: Store.open(db).counts()["completed"] >= 3, "progress after the resume")
        _wait(lambda: running() >= 2, "a batch in flight again")
        Store.open(db).request_pause(now=False)
        _wait(lambda: Store.open(db).campaign()["state"] == "paused", "paused (deferred)")
        # A deferred pause let every running command finish and journaled it: nothing is left in flight.
        assert running() == 0
        Store.open(db).request_resume("test")
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    store = Store.open(db)
    assert store.counts()["completed"] == 10
    ids = [c["id"] for c in store.commands() if c["instrument"] == "simulation"]
    assert len(ids) == len(set(ids)) == 10  # nothing run twice across the pauses


def test_a_fault_in_one_experiment_faults_and_the_others_resume(tmp_path: Path, alloy_campaign_file: Path) -> None:
    text = parallel_campaign(alloy_campaign_file, tmp_path / "f.toml", parallel=4, budget=10).read_text()
    campaign = tmp_path / "f.toml"
    campaign.write_text(text.replace("timeout_s = 2.0", "timeout_s = 0.5"))
    db, ledgers = tmp_path / "f.db", tmp_path / "ledgers"
    proc = _run(campaign, db, ledgers=ledgers)
    stopped = None
    try:
        _wait(lambda: Store.open(db).counts()["completed"] >= 1, "one experiment completed")
        sims = load_simulators(Store.open(db))
        stopped = next(s for s in sims if s.instrument == "sputter2")
        os.kill(stopped.pid, signal.SIGSTOP)  # one sputter system hangs with the others busy
        _wait(lambda: Store.open(db).campaign()["state"] == "faulted", "faulted")
        store = Store.open(db)
        assert store.fault()["instrument"] == "sputter2"
        _wait(lambda: {e["data"]["instrument"] for e in Store.open(db).events(kind="made_safe")}
              >= {"sputter", "xrd", "magnetometer"}, "every instrument that answers made safe")
        in_flight = [e for e in store.experiments() if e.status in ("synthesizing", "synthesized", "measuring")]
        assert in_flight  # the experiment on sputter2 (and any other) waits, neither failed nor made again
        os.kill(stopped.pid, signal.SIGCONT)
        stopped = None
        store.request_resume("test")
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    finally:
        if stopped is not None:
            os.kill(stopped.pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        stop_simulators(load_simulators(Store.open(db)))
    store = Store.open(db)
    assert store.campaign()["state"] == "completed"
    assert store.counts()["completed"] == 10
    assert not store.commands("sent")
    deposits = [r for n in ("sputter", "sputter2") for r in read_ledger(ledgers / f"{n}.jsonl")
                if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == 10


FAILING_E3 = """
import json, sys, time
sys.path.insert(0, {sim!r})
from film_model import simulate
request = json.load(sys.stdin)
if "-e3-" in request["command_id"]:
    time.sleep(0.2)
    print("diverged", file=sys.stderr)
    sys.exit(3)
time.sleep(1.5)
print(json.dumps(simulate(request["params"], request["command_id"], 3, 0.1)))
"""


def test_a_failed_run_on_a_command_instrument_fails_the_runs_it_stopped_and_leaves_nothing_unknown(
        tmp_path: Path) -> None:
    """One simulation run fails: fault, every run made safe (killed); on resume those are failed, not unknown."""
    script = tmp_path / "sim.py"
    script.write_text(FAILING_E3.format(sim=str(REPO / "campaigns" / "sim")))
    campaign = film_campaign(tmp_path / "film.toml", parallel=4, max_parallel=4, budget=8, delay=0.0,
                             argv=["{python}", str(script)])
    db = tmp_path / "film.db"
    proc = _run(campaign, db)
    try:
        _wait(lambda: Store.open(db).campaign()["state"] == "faulted", "faulted")
        store = Store.open(db)
        assert store.fault()["instrument"] == "simulation" and store.fault()["experiment"] == 3
        store.request_resume("test")
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    store = Store.open(db)
    assert store.campaign()["state"] == "completed"
    exps = store.experiments()
    assert not [e for e in exps if e.status not in ("completed", "failed")]
    assert not store.commands("sent") and not store.commands("unknown")
    failed = {e.id: e.error for e in exps if e.status == "failed"}
    assert "exit code 3" in failed.pop(3)
    # The runs the fault stopped: failed as the sequential loop fails an instrument error, never resent.
    assert failed and all("while the campaign was held" in why for why in failed.values()), failed
    ids = [c["id"] for c in store.commands() if c["instrument"] == "simulation"]
    assert len(ids) == len(set(ids))


def test_supervised_parallel_campaign_runs_reviewed_and_auto_approved_proposals(tmp_path: Path,
                                                                                 alloy_campaign_file: Path) -> None:
    """Supervised: proposals wait for review while others run; the approval timeout still approves them."""
    text = parallel_campaign(alloy_campaign_file, tmp_path / "s.toml", parallel=3, budget=6).read_text()
    campaign = tmp_path / "s.toml"
    campaign.write_text(text.replace('mode = "unattended"', 'mode = "supervised"')
                        + "\n[supervision]\napproval_timeout_s = 0.5\n")
    db = tmp_path / "s.db"
    proc = _run(campaign, db)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    store = Store.open(db)
    assert store.counts()["completed"] == 6
    approved = store.events(kind="auto_approved")
    assert len(approved) == 6
    # Some were approved while other experiments' commands were running (not only when the loop was idle).
    sent = [(c["sent"], c["finished"]) for c in store.commands()]
    assert any(any(a < ev["ts"] < b for a, b in sent) for ev in approved)


SLOW_PLANNER = '''
import time
from labpilot.planners.random_planner import RandomPlanner


class SlowPlanner(RandomPlanner):
    """Random proposals that take a while: commands finish while it thinks."""

    name = "slow"

    def propose(self, history, k=1):
        time.sleep(1.0)
        return super().propose(history, k)
'''


@pytest.mark.parametrize("mode", ["unattended", "supervised"])
def test_commands_finish_and_start_while_a_slow_planner_thinks(tmp_path: Path, mode: str) -> None:
    """Planning on its thread: the loop journals finished runs and starts waiting ones meanwhile."""
    (tmp_path / "slowplanner.py").write_text(SLOW_PLANNER)
    campaign = film_campaign(tmp_path / "film.toml", parallel=4, max_parallel=4, budget=8, delay=0.6,
                             planner="slowplanner:SlowPlanner", mode=mode)
    if mode == "supervised":
        campaign.write_text(campaign.read_text() + "[supervision]\napproval_timeout_s = 0.1\n")
    db = tmp_path / "film.db"
    proc = _run(campaign, db)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    store = Store.open(db)
    assert store.counts()["completed"] == 8
    planning = [(e["ts"] - e["data"]["seconds"], e["ts"]) for e in store.events(kind="planned")
                if e["data"]["seconds"] >= 0.9]
    finished = [c["finished"] for c in store.commands()]
    assert any(a < f < b for a, b in planning for f in finished), "nothing was journaled while the planner ran"
