"""Kill the agent with SIGKILL in every phase of the loop, resume it each time, and lose nothing.

The kills are aimed at phases (``tests/agent/kill_points.py``) and the journal
says what each hit; ``LABPILOT_SOAK=1`` runs the long versions (20 and 12 kills).
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labpilot.errors import StoreError
from labpilot.agent.dryrun import load_simulators, stop_simulators
from labpilot.agent.store import Store
from labpilot.simulators.ledger import read_ledger

pytestmark = pytest.mark.slow
from tests.agent.honest_operator import cli, non_reconciling_campaign, resolve_unknown
from tests.agent.kill_points import Killer, reap
from tests.soak import SOAK
from tests.conftest import REPO
#: kills per run: one aimed at each phase of kill_points.PHASES, then (soak) phases drawn at random;
#: up to EXTRA_KILLS more when an aimed kill missed its phase (a step ended before the kill landed).
#: A kill aimed at an instrument's step completes at most the experiment before it: the budget
#: leaves the final run a few experiments whatever the kills did.
KILLS = 20 if SOAK else 6
BUDGET = 30 if SOAK else 6
EXTRA_KILLS = 8


def _campaign(tmp_path: Path, alloy_campaign_file: Path, pipeline: bool = False) -> Path:
    text = alloy_campaign_file.read_text().replace("initial_design = 6", "initial_design = 3")
    if pipeline:  # synthesize the next sample while the current one is measured
        text = text.replace("pipeline = false", "pipeline = true")
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
    path = tmp_path / "torture.toml"
    path.write_text(text)
    return path


def _start(campaign: Path, db: Path, ledgers: Path, budget: int = BUDGET) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
         "--max-experiments", str(budget), "--speed", "2000", "--ledger-dir", str(ledgers), "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("pipeline", [False, True], ids=["sequential", "pipelined"])
def test_sigkill_in_every_phase_loses_nothing(tmp_path: Path, alloy_campaign_file: Path, pipeline: bool) -> None:
    rng = random.Random(20261121)
    campaign = _campaign(tmp_path, alloy_campaign_file, pipeline)
    budget = BUDGET + 2 if pipeline else BUDGET  # a pipelined campaign progresses faster between kills
    db, ledgers = tmp_path / "torture.db", tmp_path / "ledgers"
    killer = Killer(lambda: Store.open(db), rng)
    kills, proc, final = 0, None, None
    try:
        while kills < KILLS + EXTRA_KILLS and (kills < KILLS or not killer.covered()):
            start = killer.started()
            proc = _start(campaign, db, ledgers, budget)
            killer.aim(proc, killer.next_phase(), start)
            if killer.kill(proc, start) is None:
                break  # it finished before we could kill it again
            kills += 1
        by_kills = killer.events("completed")
        final = _start(campaign, db, ledgers, budget)
        _, err = final.communicate(timeout=300)
        assert final.returncode == 0, err.decode()[-3000:]
    finally:
        reap(proc, final)
        if db.exists():
            stop_simulators(load_simulators(Store.open(db)))
    print(f"kills {kills} ({killer.summary()}); {by_kills} of {budget} experiments completed before the final run")
    assert killer.covered(), f"the kills missed a phase: {killer.summary()}"
    assert kills >= KILLS, f"the campaign finished after only {kills} kills; lengthen it"

    store = Store.open(db)
    status = store.campaign()
    assert status["state"] == "completed"
    exps = store.experiments()
    completed = [e for e in exps if e.status == "completed"]
    assert len(completed) == budget
    assert all(e.status in ("completed",) for e in exps), [(e.id, e.status) for e in exps]

    # No sample was made twice: one deposit per experiment, one experiment per deposit.
    deposits = [r for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == budget
    assert {r["sample_id"] for r in deposits} == {e.sample_id for e in completed}
    scans = [r for r in read_ledger(ledgers / "xrd.jsonl") if r["action"] == "scan"]
    assert len(scans) == len({r["command_id"] for r in scans}) == budget

    # Every measurement is present.
    for e in completed:
        assert "magnetization" in e.scalars and "peak_two_theta" in e.scalars
        arrays = store.arrays(e.id, "xrd")
        assert arrays["counts"].shape == arrays["two_theta"].shape and arrays["counts"].size > 1000

    # The journal is consistent: every command finished, states only moved legally.
    assert not store.commands("sent")
    states = [ev["data"]["to"] for ev in store.events(kind="state")]
    assert states[-1] == "completed"
    assert sum(1 for ev in store.events() if ev["kind"] == "reconciled") >= 1


def test_sigterm_stops_gracefully_and_the_resume_repeats_nothing(tmp_path: Path, alloy_campaign_file: Path) -> None:
    campaign = _campaign(tmp_path, alloy_campaign_file)
    db, ledgers = tmp_path / "term.db", tmp_path / "ledgers"
    args = [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
            "--max-experiments", "6", "--speed", "2000", "--ledger-dir", str(ledgers), "--quiet"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if Store.open(db).counts()["completed"] >= 2:
                break
        except StoreError:
            pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # e.g. a service manager stopping the agent
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 143, err[-2000:]
    store = Store.open(db)
    assert "interrupted" in [e["kind"] for e in store.events()]
    sims = load_simulators(store)
    deadline = time.monotonic() + 15
    while [s for s in sims if s.alive()] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [s for s in sims if s.alive()], "simulators left running after SIGTERM"

    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr[-2000:]
    store = Store.open(db)
    assert store.counts()["completed"] == 6
    deposits = [r for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == 6


# ----------------------------------------------------- instruments without memory
NR_KILLS = 12 if SOAK else 6
NR_BUDGET = 20 if SOAK else 6
NO_MEMORY = ("sputter", "magnetometer")  # `reconcile = false`: the agent may not ask them by command id


def _journaled(db: Path, kind: str) -> int:
    """How many events of ``kind`` the journal holds (0 before the database exists)."""
    try:
        store = Store.open(db)
    except StoreError:
        return 0
    try:
        return len(store.events(kind=kind))
    finally:
        store.close()


def _recoveries(db: Path) -> int:
    """How many runs have finished their start-up recovery (the journal's ``recovery`` events)."""
    return _journaled(db, "recovery")


def _answer_if_asked(db: Path) -> list[tuple[int, str, str]]:
    """If the campaign waits on unknown outcomes: look at the instruments, resolve truthfully, resume."""
    store = Store.open(db)
    try:
        waiting = store.campaign()["state"] == "faulted" and bool(store.commands("unknown"))
    finally:
        store.close()
    if not waiting:
        return []
    said = resolve_unknown(db, speed=2000)
    r = cli("resume", "--db", str(db))
    assert r.returncode == 0, r.stderr
    return said


@pytest.mark.parametrize("pipeline", [False, True], ids=["sequential", "pipelined"])
def test_sigkill_with_instruments_that_cannot_reconcile(tmp_path: Path, alloy_campaign_file: Path,
                                                        pipeline: bool) -> None:
    """Kill-and-resume with the sputter system and magnetometer unable to say what became of a command id.

    Nothing is ever resent to them: every command whose outcome a kill left
    unknown waits for `labpilot resolve`, answered by an honest operator who
    looks at the instrument; still no sample is made twice and no scan or
    measurement repeated.
    """
    rng = random.Random(20261202)
    campaign = non_reconciling_campaign(tmp_path, alloy_campaign_file, pipeline)
    budget = NR_BUDGET + 2 if pipeline else NR_BUDGET
    db, ledgers = tmp_path / "torture.db", tmp_path / "ledgers"
    killer = Killer(lambda: Store.open(db), rng)
    kills, said, proc, final = 0, [], None, None

    def answer() -> None:
        said.extend(_answer_if_asked(db))

    try:
        while kills < NR_KILLS + EXTRA_KILLS and (kills < NR_KILLS or not killer.covered()):
            start = killer.started()
            proc = _start(campaign, db, ledgers, budget)
            # the operator answers what earlier kills left unknown once this run has recovered
            killer.aim(proc, killer.next_phase(), start, on_recovered=answer)
            if killer.kill(proc, start) is None:
                break
            kills += 1
        before = _recoveries(db)
        final = _start(campaign, db, ledgers, budget)
        deadline = time.monotonic() + 300
        while final.poll() is None and time.monotonic() < deadline:
            if _recoveries(db) > before:
                said += _answer_if_asked(db)
            time.sleep(0.1)
        _, err = final.communicate(timeout=30)
        assert final.returncode == 0, err.decode()[-3000:]
    finally:
        reap(proc, final)
        if db.exists():
            stop_simulators(load_simulators(Store.open(db)))
    print(f"kills {kills} ({killer.summary()})")
    assert kills >= NR_KILLS, f"the campaign finished after only {kills} kills; lengthen it"
    assert killer.covered(), f"the kills missed a phase: {killer.summary()}"

    store = Store.open(db)
    assert store.campaign()["state"] == "completed"
    exps = store.experiments()
    completed = [e for e in exps if e.status == "completed"]
    assert len(completed) == budget, [(e.id, e.status) for e in exps]

    # No sample made twice, no scan or measurement repeated.
    deposits = [r for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit"]
    assert len(deposits) == len({r["command_id"] for r in deposits}) == budget
    assert {r["sample_id"] for r in deposits} == {e.sample_id for e in completed}
    for name, action in (("xrd", "scan"), ("magnetometer", "measure")):
        done = [r for r in read_ledger(ledgers / f"{name}.jsonl") if r["action"] == action]
        assert len(done) == len({r["command_id"] for r in done}) == budget, name

    # Nothing was resent to an instrument without memory: one `command_sent` per command id,
    # and a retry (a new id) only after an operator said the first was never made.
    events = store.events()
    sent: dict[str, int] = {}
    for ev in events:
        if ev["kind"] == "command_sent" and ev["data"]["instrument"] in NO_MEMORY:
            assert ev["data"]["id"] not in sent, f"{ev['data']['id']} was sent twice"
            sent[ev["data"]["id"]] = ev["seq"]
    assert not [ev for ev in events if ev["kind"] == "reconciled" and ev["data"]["instrument"] in NO_MEMORY]
    unknown = {ev["data"]["command_id"]: ev["seq"] for ev in events if ev["kind"] == "outcome_unknown"}
    resolved = {ev["data"]["command_id"]: ev for ev in events if ev["kind"] == "outcome_resolved"}
    assert unknown, "no kill left an outcome unknown: the test proved nothing"
    assert set(unknown) == set(resolved) == {cid for _, cid, _ in said}, "an unknown outcome was not resolved"
    every_send = [ev["seq"] for ev in events if ev["kind"] == "command_sent"]
    for cid, ev in resolved.items():
        assert ev["seq"] > unknown[cid]
        # the campaign waited: not one command went to any instrument until the operator had spoken
        assert not [seq for seq in every_send if unknown[cid] < seq < ev["seq"]], cid
        if ev["data"]["resolution"] == "not_made":  # retried under a new id, after the operator's word
            base = re.sub(r"-r\d+$", "", cid)
            later = [seq for c, seq in sent.items() if c.startswith(base) and c != cid and seq > ev["seq"]]
            assert later, f"{cid}: no retry after the operator said not made"
    assert not store.commands("sent") and not store.commands("unknown")
    print(f"kills {kills}, unknown outcomes {len(unknown)}: "
          f"{sorted(flag for _, _, flag in said)}")
