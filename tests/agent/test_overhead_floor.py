"""The agent's own cost per experiment: the journal-first floor of durable commits, and nothing that grows.

Real ``python`` instruments (functions called in-process by the real
driver) and a real SQLite store (WAL, ``synchronous=FULL``) holding 100 or
2,000 finished experiments. Counted, not timed (speed is measured in
``benchmarks/agent_overhead.py``):

- the SQL statements of one steady-state experiment, through sqlite's own
  trace callback: the same statements whatever the store holds, so nothing
  per step reads the whole store;
- the durable commits (outermost transactions) of one experiment: exactly
  the 7 that journal-first needs with one synthesizer and two measurers,
  each command id committed (visible to another connection) before its
  command runs.
"""

from __future__ import annotations

import collections
import json
import re
import sqlite3
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labpilot.agent.campaign import load_campaign
from labpilot.agent.loop.runner import CampaignRunner
from labpilot.agent.loop.session import connect_instruments
from labpilot.agent.store import Store
from labpilot.testing.commit_counting import CommitCountingStore
from tests.conftest import REPO

NEW = 6  # experiments run on top of the stored ones (the first is warm-up)

_LITERAL = re.compile(r"'(?:[^']|'')*'|\bX'[0-9A-F]*'|-?\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b")


def _shape(sql: str) -> str:
    """A traced statement without its values (sqlite gives them bound): one text per query."""
    return _LITERAL.sub("?", " ".join(sql.split()))


def campaign_file(tmp: Path, budget: int) -> Path:
    """One synthesizer, two measurers; each measurer first checks that its command id is already durable."""
    db = tmp / "c.db"
    (tmp / "probe.py").write_text(f"""
import sqlite3

SEEN = []  # per command: was its id committed before the command ran?


def _durable(instrument):
    conn = sqlite3.connect({str(db)!r})  # another connection: it sees committed rows only
    try:
        row = conn.execute("SELECT status FROM commands WHERE instrument=? ORDER BY sent DESC, rowid DESC LIMIT 1",
                           (instrument,)).fetchone()
    finally:
        conn.close()
    SEEN.append((instrument, row and row[0]))


def thickness(params):
    _durable("profilometer")
    return {{"thickness": params["power_w"] / 10.0}}


def hardness(params):
    _durable("indenter")
    return {{"hardness": params["power_w"] / 100.0 + params["pressure_pa"]}}
""")
    path = tmp / "c.toml"
    path.write_text(f"""
name = "overhead"
seed = 3
initial_design = 1
[budget]
max_experiments = {budget}
[planner]
name = "random"
[[objectives]]
name = "hardness"
[[parameters]]
name = "power_w"
type = "continuous"
low = 50.0
high = 300.0
[[parameters]]
name = "pressure_pa"
type = "continuous"
low = 0.1
high = 2.0
[[parameters]]
name = "temperature_c"
type = "continuous"
low = 20.0
high = 500.0
[[instruments]]
name = "film"
kind = "python"
address = "local"
[instruments.options]
role = "synthesize"
function = "{REPO}/campaigns/sim/film_model.py:deposit"
[[instruments]]
name = "profilometer"
kind = "python"
address = "local"
[instruments.options]
role = "measure"
function = "{tmp}/probe.py:thickness"
scalars = {{ thickness = "nm" }}
[[instruments]]
name = "indenter"
kind = "python"
address = "local"
[instruments.options]
role = "measure"
function = "{tmp}/probe.py:hardness"
scalars = {{ hardness = "GPa" }}
""")
    return path


def _populate(path: Path, n: int) -> None:
    """``n`` finished experiments, as an earlier long run left them (one transaction: fast)."""
    rng = np.random.default_rng(0)
    now = time.time()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for i in range(n):
        params = {"power_w": float(rng.uniform(50, 300)), "pressure_pa": float(rng.uniform(0.1, 2)),
                  "temperature_c": float(rng.uniform(20, 500))}
        eid = conn.execute("INSERT INTO experiments (params, status, chosen_by, planner, created, updated, sample_id)"
                           " VALUES (?, 'completed', 'planner', 'random', ?, ?, ?)",
                           (json.dumps(params), now, now, f"old{i}")).lastrowid
        for inst, name, value in (("profilometer", "thickness", 1.0), ("indenter", "hardness", float(i))):
            conn.execute("INSERT INTO measurements (experiment_id, instrument, name, value, created)"
                         " VALUES (?, ?, ?, ?, ?)", (eid, inst, name, value, now))
        for inst, action in (("film", "synthesize"), ("profilometer", "measure"), ("indenter", "measure")):
            conn.execute("INSERT INTO commands (id, experiment_id, instrument, action, status, sent, finished, result)"
                         " VALUES (?, ?, ?, ?, 'done', ?, ?, '{}')", (f"old-e{eid}-{inst}", eid, inst, action, now, now))
        for kind in ("experiment_added", "synthesized", "measured", "measured", "completed"):
            conn.execute("INSERT INTO events (ts, kind, experiment_id, data) VALUES (?, ?, ?, '{}')", (now, kind, eid))
    conn.execute("COMMIT")
    conn.close()


def run_on_store(tmp: Path, stored: int) -> tuple[list[collections.Counter[str]], list[int], list[Any]]:
    """Run ``NEW`` experiments on a store holding ``stored``: per experiment, its statements and its commits."""
    campaign = load_campaign(campaign_file(tmp, stored + NEW))
    path = tmp / "c.db"
    Store.create(path, campaign.name, campaign.model_dump(mode="json"), "").close()
    _populate(path, stored)
    conn = Store._connect(path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    store = CommitCountingStore(path, conn)
    marks: list[tuple[int, int]] = []
    with ExitStack() as stack:
        instruments = connect_instruments(campaign, {}, 1.0, stack)
        runner = CampaignRunner(campaign, store, instruments, progress=lambda _: marks.append(
            (len(statements), store.commits)))
        assert runner.run() == "completed"
        probe = instruments["indenter"].function.__globals__  # type: ignore[attr-defined]
    store.close()
    assert len(marks) == NEW
    # from one finished experiment to the next: a whole experiment (plan, make, measure, learn)
    per_statements = [collections.Counter(_shape(q) for q in statements[a:b])
                      for (a, _), (b, _) in zip(marks, marks[1:])]
    per_commits = [d - c for (_, c), (_, d) in zip(marks, marks[1:])]
    return per_statements, per_commits, probe["SEEN"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[list, list, list]]:
    return {n: run_on_store(tmp_path_factory.mktemp(f"s{n}"), n) for n in (100, 2000)}


def test_an_experiments_statements_do_not_grow_with_the_store(runs: dict[int, tuple[list, list, list]]) -> None:
    small, large = runs[100][0], runs[2000][0]
    # every steady-state experiment runs the same statements, whatever the store holds
    assert all(s == small[0] for s in small + large), [sum(s.values()) for s in small + large]
    total = sum(small[0].values())
    # the journal-first writes (7 BEGIN/COMMIT pairs and what they hold) and a few reads: far under the
    # ~90 it took before reads were cut, and no statement reads every experiment
    assert total <= 60, small[0]
    # and each read is pinned to one experiment (or command, or the journal's tail, or the open ones)
    pinned = {"experiments": ("id=?", "status IN"), "measurements": ("experiment_id=",),
              "commands": ("WHERE id=", "experiment_id="), "events": ("WHERE seq >",)}
    for q in small[0]:
        table = re.search(r"\bFROM (\w+)", q)
        if q.startswith("SELECT") and table and table.group(1) in pinned:
            assert any(p in q for p in pinned[table.group(1)]), q


def test_an_experiment_costs_exactly_the_seven_journal_first_commits(runs: dict[int, tuple[list, list, list]]) -> None:
    for stored in (100, 2000):
        statements, commits, seen = runs[stored]
        # 1 (proposal) + synthesizer (claim + command id; result) + each measurer (command id; result)
        assert commits == [7] * (NEW - 1), (stored, commits)
        assert all(s["BEGIN IMMEDIATE"] == s["COMMIT"] == 7 for s in statements), stored
        # journal first: each measuring command's id was committed before the command ran
        assert len(seen) == 2 * NEW and all(status == "sent" for _, status in seen), seen
