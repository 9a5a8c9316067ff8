"""Issue 10, item 4: `abort` and `pause --now` do not wait for a planning step, and leave nothing behind.

The campaign runs in this process (``run_campaign``, a dry run against real
simulator processes) so that the planner can be made slow: its ``propose``
blocks until the test releases it. The operator commands go through the real
CLI (``main``). That the agent stopped while the planner was still blocked is
the property; how fast is measured in ``benchmarks/abort_during_planning.py``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign
from labpilot.agent.cli.main import main
from labpilot.agent.loop.session import run_campaign
from labpilot.agent.store import Store
from labpilot.planners.random_planner import RandomPlanner

pytestmark = pytest.mark.slow


def _campaign(tmp_path: Path, alloy_campaign_file: Path) -> Path:
    text = alloy_campaign_file.read_text().replace('name = "bo"', 'name = "random"')
    text = text.replace('acquisition = "qlognei"', "").replace("initial_design = 6", "initial_design = 1")
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    return path


@pytest.fixture
def blocked_planner(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """RandomPlanner.propose blocks until released; yields (started, release)."""
    started, release = threading.Event(), threading.Event()
    original = RandomPlanner.propose

    def slow(self, history, k=1):  # noqa: ANN001, ANN202
        started.set()
        release.wait(120)
        return original(self, history, k)

    monkeypatch.setattr(RandomPlanner, "propose", slow)
    yield started, release
    release.set()


def _start(campaign: Path, db: Path) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target() -> None:
        out["final"] = run_campaign(load_campaign(campaign), campaign.read_text(), db, dry_run=True, speed=5000,
                                    quiet=True)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


def test_abort_during_a_long_planning_step_takes_effect_without_waiting(
        tmp_path: Path, alloy_campaign_file: Path, blocked_planner) -> None:  # noqa: ANN001
    started, release = blocked_planner
    campaign, db = _campaign(tmp_path, alloy_campaign_file), tmp_path / "c.db"
    thread, out = _start(campaign, db)
    assert started.wait(120), "the planner was never called"
    assert main(["abort", "--reason", "test", "--db", str(db)]) == 0
    thread.join(30)
    assert not thread.is_alive(), "the agent waited for the planner"
    assert not release.is_set()  # the planner is still blocked: the abort did not wait for it
    assert out["final"] == "aborted"
    store = Store.open(db)
    assert [e.chosen_by for e in store.experiments()] == ["initial"]  # nothing planned was left behind
    assert store.experiments()[0].status == st.COMPLETED


def test_pause_now_during_planning_then_resume_completes(
        tmp_path: Path, alloy_campaign_file: Path, blocked_planner) -> None:  # noqa: ANN001
    started, release = blocked_planner
    campaign, db = _campaign(tmp_path, alloy_campaign_file), tmp_path / "c.db"
    text = campaign.read_text().replace("max_experiments = 40", "max_experiments = 2")
    campaign.write_text(text)
    thread, out = _start(campaign, db)
    assert started.wait(120), "the planner was never called"
    assert main(["pause", "--now", "--db", str(db)]) == 0
    deadline = threading.Event()
    for _ in range(100):
        if Store.open(db).campaign()["state"] == "paused":
            break
        deadline.wait(0.1)
    assert Store.open(db).campaign()["state"] == "paused" and not release.is_set()
    assert len(Store.open(db).experiments()) == 1
    release.set()  # the abandoned step finishes; its proposals are never written
    assert main(["resume", "--db", str(db)]) == 0
    thread.join(120)
    assert out.get("final") == "completed"
    store = Store.open(db)
    assert store.counts()[st.COMPLETED] == 2 and len(store.experiments()) == 2
