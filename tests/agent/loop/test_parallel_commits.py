"""Parallel execution keeps the journal-first floor of durable commits per experiment.

Real ``python`` instruments (a function per instrument) and a real SQLite
store whose outermost transactions are counted. Sequentially an experiment
with one synthesizer and two measurers costs 1 + 2 (1 + 2) = 7 commits
(``docs/CONTRACTS.md``); in parallel the same, plus at most one for a
planning step's ``planning`` state and one for learning transitions deferred
past a running planner: never the ~15 of separate writes.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign
from labpilot.agent.loop.runner import CampaignRunner
from labpilot.agent.loop.session import connect_instruments
from labpilot.agent.store import Store
from labpilot.testing.commit_counting import CommitCountingStore
from labpilot.testing.campaigns import InstrumentEntry, film_campaign
from tests.conftest import REPO

N = 12


def campaign_file(tmp: Path, parallel: int, batch: int) -> Path:
    """The film campaign measured by two ``python`` probes (thickness, hardness) written into ``tmp``."""
    (tmp / "probe.py").write_text(
        "def thickness(params):\n    return {'thickness': params['power_w'] / 10.0}\n\n"
        "def hardness(params):\n    return {'hardness': params['power_w'] / 100.0 + params['pressure_pa']}\n")
    probe = f"{tmp}/probe.py"
    probes = [InstrumentEntry("profilometer", "python",
                              {"role": "measure", "function": f"{probe}:thickness", "scalars": {"thickness": "nm"}}),
              InstrumentEntry("indenter", "python",
                              {"role": "measure", "function": f"{probe}:hardness", "scalars": {"hardness": "GPa"}})]
    path = tmp / "c.toml"
    path.write_text(film_campaign(REPO / "campaigns" / "sim" / "film_model.py", probes, name="commits", seed=5,
                                  parallel=parallel, budget=N, batch_size=batch))
    return path


def commits_per_experiment(tmp: Path, parallel: int, batch: int) -> float:
    campaign = load_campaign(campaign_file(tmp, parallel, batch))
    path = tmp / "c.db"
    Store.create(path, campaign.name, campaign.model_dump(mode="json"), "").close()
    store = CommitCountingStore(path, Store._connect(path))
    with ExitStack() as stack:
        instruments = connect_instruments(campaign, {}, 1.0, stack)
        runner = CampaignRunner(campaign, store, instruments, poll_s=0.01)
        before = store.commits
        assert runner.run() == "completed"
    assert store.counts()[st.COMPLETED] == N
    assert not store.commands("sent")
    # the run's own few (instruments connected, recovery, the campaign's start and end) are left in
    return (store.commits - before) / N


@pytest.mark.parametrize(("parallel", "batch", "most"), [(1, 1, 7.7), (3, 1, 9.6), (3, 3, 9.0)])
def test_commits_per_experiment_stay_at_the_floor(tmp_path: Path, parallel: int, batch: int, most: float) -> None:
    got = commits_per_experiment(tmp_path, parallel, batch)
    assert 7.0 <= got <= most, got


def test_parallel_planner_history_is_the_full_read_with_the_experiments_in_flight_pending(tmp_path: Path) -> None:
    """The scheduler plans from the runner's HistoryCache: equal to a fresh read, in-flight ones pending."""
    from labpilot.agent.history import planner_history
    from labpilot.planners.base import PENDING

    campaign = load_campaign(campaign_file(tmp_path, parallel=3, batch=1))
    path = tmp_path / "c.db"
    Store.create(path, campaign.name, campaign.model_dump(mode="json"), "").close()
    store = Store.open(path)
    seen: list[tuple[bool, int]] = []
    with ExitStack() as stack:
        runner = CampaignRunner(campaign, store, connect_instruments(campaign, {}, 1.0, stack), poll_s=0.01)
        cached = runner._history.trials

        def trials() -> list:
            got = cached()
            seen.append((got == planner_history(store, runner.objective_names), sum(t.status == PENDING for t in got)))
            return got

        runner._history.trials = trials  # type: ignore[method-assign]
        assert runner.run() == "completed"
    assert seen and all(equal for equal, _ in seen), seen
    assert any(pending for _, pending in seen), seen  # planned while others were being made or measured
