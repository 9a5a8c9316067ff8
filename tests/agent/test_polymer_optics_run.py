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
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from labpilot.agent import store as st
from labpilot.agent.store import Store
from tests.conftest import CAMPAIGNS
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
HERE = CAMPAIGNS / "polymer_optics"
BUDGET = 20


def campaign_copy(tmp: Path, fail_rate: float) -> Path:
    """The shipped campaign, runnable from ``tmp``: absolute paths, run files in ``tmp/runs``."""
    text = (CAMPAIGNS / "polymer_optics.toml").read_text()
    for old, new in (('"campaigns/polymer_optics/simulate.py"', json.dumps(str(HERE / "simulate.py"))),
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


def _batch_running(db: Path, runs: Path, first_experiment: int) -> bool:
    """Ten md runs in flight for experiments >= ``first_experiment``, every one started (its marker names
    its process): a batch is running, none is between "journaled" and "started"."""
    if not db.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            ids = [r[0] for r in conn.execute("SELECT id FROM commands WHERE status='sent' AND instrument='md' "
                                              "AND experiment_id >= ?", (first_experiment,))]
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    if len(ids) < 10:
        return False
    for cid in ids:
        try:
            if not isinstance(json.loads((runs / f"{cid}.json.started").read_text()).get("pid"), int):
                return False
        except (OSError, ValueError):
            return False
    return True


def test_sigkill_with_simulations_in_flight_then_resume_runs_none_twice_and_loses_none(tmp_path: Path) -> None:
    campaign, db = campaign_copy(tmp_path, fail_rate=0.0), tmp_path / "po.db"
    environment = env(tmp_path, 0.4)  # an md run takes seconds: the kill finds a batch running
    kills = 0
    for first in (1, 11):  # kill with the first batch of ten running, then with the second
        agent = subprocess.Popen(run_args(campaign, db), cwd=tmp_path, env=environment,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: _batch_running(db, tmp_path / "runs", first) or agent.poll() is not None,
                     timeout=600, what=f"ten md runs in flight from experiment {first}")
            if agent.poll() is None:
                agent.send_signal(signal.SIGKILL)
                kills += 1
            agent.wait(timeout=60)
        finally:
            if agent.poll() is None:
                agent.kill()
            agent.stderr.close()  # type: ignore[union-attr]
    assert kills == 2
    final = subprocess.run(run_args(campaign, db), cwd=tmp_path, env=environment, capture_output=True, text=True,
                           timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    store = Store.open(db)
    exps = store.experiments()
    assert len(exps) == BUDGET and all(e.status == st.COMPLETED for e in exps), \
        [(e.id, e.status, e.error) for e in exps if e.status != st.COMPLETED]
    runs = ledger(tmp_path)
    assert max(runs.values()) == 1, [k for k, n in runs.items() if n > 1]  # no simulation ran twice
    assert sum(1 for stage, _ in runs if stage == "md") == BUDGET  # and none was lost (or redone)
    reconciled = [e for e in store.events() if e["kind"] == "reconciled" and e["data"]["instrument"] == "md"]
    assert len(reconciled) == 20  # each resumed agent asked what became of the ten runs in flight...
    assert {e["data"]["state"] for e in reconciled} <= {"running", "done"}  # ...orphans still running, or done
    for e in exps:  # what was journaled is what the simulation wrote for that command
        cid = next(c["id"] for c in store.commands("done") if c["experiment_id"] == e.id and c["instrument"] == "md")
        written = json.loads((tmp_path / "runs" / f"{cid}.json").read_text())
        assert e.scalars == pytest.approx(written)


def test_the_sequential_loop_also_goes_on_past_a_failed_simulation(tmp_path: Path) -> None:
    """``on_error = "fail"`` with one experiment at a time: failures fail their experiments, the run completes."""
    campaign = campaign_copy(tmp_path, fail_rate=0.7)
    campaign.write_text(campaign.read_text().replace("parallel = 10 ", "parallel = 1 "))
    db = tmp_path / "seq.db"
    out = subprocess.run([*run_args(campaign, db)[:-1], "6"], cwd=tmp_path, env=env(tmp_path, 0.0),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    exps = Store.open(db).experiments()
    assert len(exps) == 6 and {e.status for e in exps} <= {st.COMPLETED, st.FAILED}
    assert any(e.status == st.FAILED for e in exps)  # 70 % of runs fail (drawn per command id): P(none of 6) < 0.1 %
    assert "failed on md" in out.stdout + out.stderr
