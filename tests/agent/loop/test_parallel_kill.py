"""Parallel execution survives SIGKILL: a batch in flight on two sputter systems, killed and resumed.

A real dry run (simulators as subprocesses, the agent as a subprocess) with
four experiments in flight is killed at instants tied to its progress (after
a random number of further commands finished), and resumed each time. The
simulators' ledgers and the store then show that no sample was made twice, no
measurement was lost and every experiment completed. A longer soak:
``benchmarks/parallel_soak.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.loop.parallel_campaign import parallel_campaign
from tests.agent.loop.parallel_kill import check_nothing_lost, kill_and_resume

pytestmark = pytest.mark.slow
BUDGET = 12
KILLS = 4


def test_sigkill_with_a_batch_in_flight_loses_nothing(tmp_path: Path, alloy_campaign_file: Path) -> None:
    campaign = parallel_campaign(alloy_campaign_file, tmp_path / "parallel.toml", parallel=4, budget=BUDGET)
    db, ledgers = tmp_path / "parallel.db", tmp_path / "ledgers"
    in_flight_at_kill = kill_and_resume(campaign, db, ledgers, KILLS, seed=20261202)
    # The kills really hit a batch: several commands journaled as sent and not yet finished.
    assert max(in_flight_at_kill) >= 2, in_flight_at_kill
    found = check_nothing_lost(db, ledgers, BUDGET)
    assert found["reconciled"] >= 1  # a resumed run asked an instrument what became of a command
    assert all(found["by_sputter"].values()), found  # both sputter systems made samples
