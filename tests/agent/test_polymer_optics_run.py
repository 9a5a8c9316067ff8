"""The polymer seed loop through the real CLI: a dry run with 10 simulations in flight, and SIGKILL + resume.

The campaign is the shipped file with its paths made absolute and its run
files under the test's folder (so nothing lands in the repository); the
simulation runs as real subprocesses, its clock sped up through
``POLYMER_SIM_TIME_SCALE``, and appends each run it starts to a ledger
(``POLYMER_SIM_LEDGER``), which counts runs per command id.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from labpilot.agent import store as st
from labpilot.agent.store import Store
from labpilot.errors import StoreError
from tests.conftest import CAMPAIGNS
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
HERE = CAMPAIGNS / "polymer_optics"
BUDGET = 20


def campaign_copy(tmp: Path, fail_rate: float) -> Path:
    """The shipped campaign, runnable from ``tmp``: absolute paths, run files in ``tmp/runs``."""
    text = (CAMPAIGNS / "polymer_optics.toml").read_text()
    for old, new in (('"polymer_optics/simulate.py"', json.dumps(str(HERE / "simulate.py"))),
                     ('"polymer_optics/pool.parquet"', json.dumps(str(HERE / "pool.parquet"))),
                     ('"polymer_runs/{command_id}.json"', json.dumps(str(tmp / "runs" / "{command_id}.json"))),
                     ('"--fail-rate", "0.05"', f'"--fail-rate", "{fail_rate}"')):
        assert old in text, old
        text = text.replace(old, new)
    out = tmp / "polymer_optics.toml"
    out.write_text(text)
    return out


def env(tmp: Path, time_scale: float) -> dict[str, str]:
    return {**os.environ, "POLYMER_SIM_TIME_SCALE": str(time_scale), "POLYMER_SIM_LEDGER": str(tmp / "ledger.txt")}


def run_args(campaign: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
            "--max-experiments", str(BUDGET)]


def ledger(tmp: Path) -> Counter[tuple[str, str]]:
    path = tmp / "ledger.txt"
    lines = path.read_text().split("\n") if path.exists() else []
    return Counter((ln.split()[0], ln.split()[1]) for ln in lines if ln.strip())


def max_overlap(commands: list[dict]) -> int:
    """Most commands running at one instant (from their journaled sent/finished times)."""
    edges = sorted([(c["sent"], 1) for c in commands] + [(c["finished"], -1) for c in commands])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_a_dry_run_with_ten_simulations_in_flight_completes_and_draws_the_front(tmp_path: Path) -> None:
    campaign, db = campaign_copy(tmp_path, fail_rate=0.35), tmp_path / "po.db"
    out = subprocess.run(run_args(campaign, db), cwd=tmp_path, env=env(tmp_path, 0.02), capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    store = Store.open(db)
    exps = store.experiments()
    assert len(exps) == BUDGET and {e.status for e in exps} <= {st.COMPLETED, st.FAILED}
    failed = [e for e in exps if e.status == st.FAILED]
    assert failed, "35 % of the md runs fail: some experiment of 20 must have"  # and the campaign went on
    assert all("md:" in (e.error or "") or "polarizability:" in (e.error or "") for e in failed)
    assert len({e.params["polymer_id"] for e in exps}) == BUDGET  # never the same polymer twice
    assert all(set(e.scalars) == {"refractive_index", "abbe_number"} for e in exps if e.status == st.COMPLETED)
    md = [c for c in store.commands() if c["instrument"] == "md"]
    assert len(md) == BUDGET and max_overlap(md) >= 3  # run side by side, not one after another
    runs = ledger(tmp_path)
    assert sum(1 for stage, _ in runs if stage == "md") == BUDGET and max(runs.values()) == 1

    from labpilot.agent.plotting import campaign_figure

    fig = campaign_figure(store)
    labels = {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}
    assert "refractive_index (dimensionless) (maximize)" in labels
    assert "abbe_number (dimensionless) (maximize)" in labels
    pareto = next(ax for ax in fig.axes if ax.get_xlabel().startswith("refractive_index"))
    front = next(line for line in pareto.get_lines() if line.get_label() == "Pareto front")
    assert len(front.get_xydata()) >= 2
    png = tmp_path / "po.png"
    plot = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "plot", "--db", str(db), "--out", str(png)],
                          capture_output=True, text=True, timeout=300)
    assert plot.returncode == 0 and png.stat().st_size > 10_000, plot.stderr


def _sent(db: Path) -> list[tuple[str, str, int]]:
    """Commands journaled as sent and not finished: ``(command id, instrument, experiment)``; [] before the store."""
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return [tuple(r) for r in conn.execute(
                "SELECT id, instrument, experiment_id FROM commands WHERE status='sent'")]
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _marker(runs: Path, cid: str) -> dict | None:
    """The command driver's run marker of ``cid``: None before it starts; ``pid`` None while it is starting."""
    try:
        record = json.loads((runs / f"{cid}.json.started").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _md_running(db: Path, runs: Path, first_experiment: int) -> bool:
    """The md slots full (ten runs in flight, or every experiment still open), one of them for an experiment
    >= ``first_experiment``, and every one started (its marker names its process): none is between
    "journaled" and "started"."""
    md = [(cid, eid) for cid, inst, eid in _sent(db) if inst == "md"]
    try:
        still_open = sum(1 for e in Store.open(db).experiments() if e.status not in (st.COMPLETED, st.FAILED))
    except StoreError:
        return False
    if not md or len(md) < min(10, still_open) or max(eid for _, eid in md) < first_experiment:
        return False
    return all(isinstance((_marker(runs, cid) or {}).get("pid"), int) for cid, _ in md)


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return True  # gone


def _kill_while_the_builder_starts(agent: subprocess.Popen, db: Path, runs: Path, first_experiment: int,
                                   rng: random.Random) -> dict[str, str]:
    """SIGKILL ``agent`` while the builder starts runs for experiments >= ``first_experiment`` (the next batch).

    Once such a build is journaled, the agent is frozen (SIGSTOP) at random instants and looked at: the kill
    lands when a build's marker has no process id yet (the driver is between "starting" and "started", the
    instant whose outcome cannot be known), or, if none is caught within a few seconds, at the next instant a
    build is in flight. Returns each build in flight at the kill: "starting", "started" or "not started".
    """
    def builds() -> list[str]:
        return [cid for cid, inst, eid in _sent(db) if inst == "builder" and eid >= first_experiment]

    def state(cid: str) -> str:
        m = _marker(runs, cid)
        return "not started" if m is None else "starting" if m.get("pid") is None else "started"

    wait_for(lambda: builds() or agent.poll() is not None, timeout=600, poll_s=0.002,
             what=f"a build journaled for experiment >= {first_experiment}")
    deadline = time.monotonic() + 5.0
    while agent.poll() is None and time.monotonic() < deadline:
        agent.send_signal(signal.SIGSTOP)
        wait_for(lambda: _stopped(agent.pid), timeout=10, poll_s=0.0005, what="the agent stopped")
        if any(state(p.name.removesuffix(".json.started")) == "starting" for p in runs.glob("*-builder.json.started")):
            break
        agent.send_signal(signal.SIGCONT)
        time.sleep(rng.uniform(0.0, 0.001))
    agent.send_signal(signal.SIGKILL)
    agent.wait(timeout=60)
    return {cid: state(cid) for cid in builds()}


def test_sigkill_with_simulations_in_flight_then_resume_runs_none_twice_and_loses_none(tmp_path: Path) -> None:
    """Kills aimed at the builder starting the next batch, then twice at full md slots; then a resume.

    A build cut off as it started cannot be known to have run: it fails its experiment (the builder's
    ``on_error = "fail"``) and the campaign goes on. No other experiment fails, nothing runs twice.
    """
    campaign, db = campaign_copy(tmp_path, fail_rate=0.0), tmp_path / "po.db"
    runs = tmp_path / "runs"
    environment = env(tmp_path, 0.4)  # an md run takes seconds: the kill finds a batch running
    rng = random.Random(20261202)
    in_flight: list[set[tuple[str, str, int]]] = []  # what each kill cut off, as the journal says
    builds_at_kill: dict[str, str] = {}
    for aim, first in (("builder", 11), ("md", 1), ("md", 11)):
        agent = subprocess.Popen(run_args(campaign, db), cwd=tmp_path, env=environment,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if aim == "builder":
                builds_at_kill = _kill_while_the_builder_starts(agent, db, runs, first, rng)
            else:
                wait_for(lambda: _md_running(db, runs, first) or agent.poll() is not None,
                         timeout=600, poll_s=0.05, what=f"ten md runs in flight, one of experiment >= {first}")
                agent.send_signal(signal.SIGKILL)
            agent.wait(timeout=60)
            assert agent.returncode == -signal.SIGKILL, f"the run ended before the kill aimed at {aim}"
            in_flight.append(set(_sent(db)))
        finally:
            if agent.poll() is None:
                agent.kill()
            agent.stderr.close()  # type: ignore[union-attr]
    assert builds_at_kill, in_flight[0]  # the first kill hit builds of the next batch
    assert len([1 for _, inst, _ in in_flight[1] if inst == "md"]) >= 10, in_flight[1]  # the md slots full
    assert any(inst == "md" and eid >= 11 for _, inst, eid in in_flight[2]), in_flight[2]  # the second batch's
    final = subprocess.run(run_args(campaign, db), cwd=tmp_path, env=environment, capture_output=True, text=True,
                           timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    store = Store.open(db)
    exps = store.experiments()
    assert len(exps) == BUDGET and {e.status for e in exps} <= {st.COMPLETED, st.FAILED}
    assert len({e.params["polymer_id"] for e in exps}) == BUDGET  # never the same polymer twice
    cut = {cid for kill in in_flight for cid, _, _ in kill}
    reconciled = {e["data"]["command_id"]: e["data"]["state"] for e in store.events(kind="reconciled")}
    assert cut <= set(reconciled), cut - set(reconciled)  # each resumed agent asked what became of each one
    # Only a run a kill cut off as it started fails (the outcome of its start cannot be known); all else completes.
    failed = {e.id: e.error for e in exps if e.status == st.FAILED}
    failed_cids = {c["id"] for c in store.commands("failed")}
    assert failed_cids <= cut and all(reconciled[c] == "failed" for c in failed_cids), failed
    assert len(failed_cids) == len(failed)
    assert all("cannot be known" in why or "ended without writing" in why for why in failed.values()), failed
    runs_per = ledger(tmp_path)
    assert max(runs_per.values()) == 1, [k for k, n in runs_per.items() if n > 1]  # no simulation ran twice
    done_md = {c["id"] for c in store.commands("done") if c["instrument"] == "md"}
    assert {cid for stage, cid in runs_per if stage == "md"} >= done_md  # every result from a run of its own
    assert len(done_md) == sum(e.status == st.COMPLETED for e in exps)  # none lost (or measured twice)
    # A build cut off as it started failed its experiment; one the agent had not started yet was built.
    status_of = {c["id"]: c["status"] for c in store.commands()}
    assert all(status_of[cid] == "failed" for cid, state in builds_at_kill.items() if state == "starting")
    assert all(status_of[cid] == "done" for cid, state in builds_at_kill.items() if state == "not started")
    md_of = {c["experiment_id"]: c["id"] for c in store.commands("done") if c["instrument"] == "md"}
    for e in exps:  # what was journaled is what the simulation wrote for that command
        if e.status == st.COMPLETED:
            assert e.scalars == pytest.approx(json.loads((runs / f"{md_of[e.id]}.json").read_text()))


def test_the_sequential_loop_also_goes_on_past_a_failed_simulation(tmp_path: Path) -> None:
    """``on_error = "fail"`` with one experiment at a time: failures fail their experiments, the run completes."""
    campaign = campaign_copy(tmp_path, fail_rate=0.7)
    campaign.write_text(campaign.read_text().replace("parallel = 20 ", "parallel = 1 "))
    db = tmp_path / "seq.db"
    out = subprocess.run([*run_args(campaign, db)[:-1], "6"], cwd=tmp_path, env=env(tmp_path, 0.0),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    exps = Store.open(db).experiments()
    assert len(exps) == 6 and {e.status for e in exps} <= {st.COMPLETED, st.FAILED}
    assert any(e.status == st.FAILED for e in exps)  # 70 % of runs fail (drawn per command id): P(none of 6) < 0.1 %
    assert "failed on md" in out.stdout + out.stderr
