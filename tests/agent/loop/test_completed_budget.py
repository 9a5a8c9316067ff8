"""A completed campaign resumed with a larger budget continues to it; a budget that adds nothing says so.

Through the real CLI (a subprocess, a real SQLite file, ``--dry-run``): the
film campaign, made and measured by ``python`` functions (no simulator
process), runs to completion with a budget of 2, then is resumed with
``--max-experiments``, or with its file's budget raised (``--accept-changes``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labpilot.agent import store as st
from labpilot.agent.store import Store
from labpilot.testing.campaigns import InstrumentEntry, film_campaign
from tests.conftest import REPO

MODEL = REPO / "campaigns" / "sim" / "film_model.py"


def labpilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def _campaign(tmp: Path, budget: int = 2) -> Path:
    probe = InstrumentEntry("probe", "python", {"role": "measure", "function": f"{MODEL}:truth",
                                                "scalars": {"hardness": "GPa", "roughness": "nm"}})
    path = tmp / "film.toml"
    path.write_text(film_campaign(MODEL, [probe], budget=budget, name="budget", planner="random"))
    return path


def _run(path: Path, db: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return labpilot("run", str(path), "--dry-run", "--db", str(db), "--quiet", *flags, cwd=path.parent)


def _state(db: Path) -> tuple[str, int, int]:
    """(state, experiments finished, stored budget)."""
    store = Store.open(db)
    try:
        c = store.counts()
        held = store.campaign()
        return held["state"], c[st.COMPLETED] + c[st.FAILED], held["config"]["budget"]["max_experiments"]
    finally:
        store.close()


def _events(db: Path, kind: str) -> list[dict]:
    store = Store.open(db)
    try:
        return store.events(kind=kind)
    finally:
        store.close()


def test_a_larger_max_experiments_continues_a_completed_campaign(tmp_path: Path) -> None:
    path, db = _campaign(tmp_path), tmp_path / "c.db"
    r = _run(path, db)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _state(db) == ("completed", 2, 2)

    r = _run(path, db, "--max-experiments", "4")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "budget raised from 2 to 4; continuing" in r.stdout
    assert "already completed" not in r.stdout + r.stderr
    assert _state(db) == ("completed", 4, 4)
    raised = _events(db, "budget_raised")
    assert [(e["data"]["from"], e["data"]["to"], e["data"]["used"]) for e in raised] == [(2, 4, 2)]
    states = [e["data"] for e in _events(db, "state")]
    assert {"from": "completed", "to": "planning", "trigger": "budget_raised"} in states
    assert states[-1]["to"] == "completed"  # and it completed again, at the new budget
    assert ["budget.max_experiments", 2, 4] in _events(db, "settings_changed")[-1]["data"]["changes"]


def test_a_budget_that_adds_nothing_says_the_campaign_is_complete(tmp_path: Path) -> None:
    path, db = _campaign(tmp_path), tmp_path / "c.db"
    assert _run(path, db).returncode == 0
    for given in ("2", "1"):
        r = _run(path, db, "--max-experiments", given)
        assert r.returncode == 0, r.stderr[-3000:]
        assert (f"campaign 'budget' is already complete at 2 experiments: --max-experiments {given} changes "
                f"nothing" in r.stdout), r.stdout
        assert _state(db) == ("completed", 2, 2)  # the smaller value is not applied either
    assert not _events(db, "budget_raised") and not _events(db, "settings_changed")


def test_a_budget_raised_in_the_campaign_file_continues_with_accept_changes(tmp_path: Path) -> None:
    path, db = _campaign(tmp_path), tmp_path / "c.db"
    assert _run(path, db).returncode == 0
    path.write_text(path.read_text().replace("max_experiments = 2", "max_experiments = 3"))
    r = _run(path, db)
    assert r.returncode != 0 and "pass --accept-changes" in r.stderr  # a file change after a start: asked for
    assert _state(db) == ("completed", 2, 2)
    r = _run(path, db, "--accept-changes")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "budget.max_experiments: 2 -> 3" in r.stdout and "budget raised from 2 to 3; continuing" in r.stdout
    assert _state(db) == ("completed", 3, 3)
    assert _events(db, "config_changed") and _events(db, "budget_raised")
