"""The store contract on both backends: SQLite files and a real PostgreSQL server.

Every ``Store`` method the agent uses behaves the same on both: durable
across reopen, arrays round-trip with dtype and shape, conditional updates
refuse a stale status, replays of a measurement replace instead of
duplicating, commands journaled once by id, and several campaigns share one
server without seeing each other.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from labpilot.errors import AlreadyRunning, StaleExperiment, StoreError
from labpilot.agent import store as st
from labpilot.agent.store import Store
from labpilot.agent.store_open import campaign_exists, campaign_target, create_store, open_store, run_lock


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "c.db")
    return request.getfixturevalue("pg_url")


_OPENED: list[Store] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """Close every store a test opened (a PostgreSQL store holds a server connection)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def _new(target: str, name: str = "demo") -> Store:
    _OPENED.append(create_store(target, name, {"name": name}, f"name = '{name}'\n"))
    return _OPENED[-1]


def _reopen(target: str, name: str = "demo") -> Store:
    _OPENED.append(open_store(campaign_target(target, name)))
    return _OPENED[-1]


def test_everything_survives_a_reopen(target: str) -> None:
    assert not campaign_exists(target, "demo")
    s = _new(target)
    assert campaign_exists(target, "demo")
    eid = s.add_experiment({"Fe": 0.7, "Co": 0.3}, st.APPROVED, "planner", planner="bo", score=1.5,
                           reason="bo: qlognei", predicted={"m": (1.0, 0.5)})
    s.update_experiment(eid, status=st.SYNTHESIZING)
    s.command_sent("c1", eid, "sputter", "synthesize")
    s.command_sent("c1", eid, "sputter", "synthesize")  # a replay after a crash: still one command
    s.synthesis_done("c1", eid, "S0001", {"powers_w": [100.0, 50.0]})
    pattern = np.linspace(0, 1, 3500, dtype=np.float32)
    s.command_sent("c2", eid, "xrd", "measure")
    s.measurement_done("c2", eid, "xrd", {"peak_two_theta": 44.7}, {"counts": pattern, "two_theta": pattern * 2})
    s.measurement_done("c2", eid, "xrd", {"peak_two_theta": 44.8}, {"counts": pattern + 1, "two_theta": pattern * 2})
    s.set_state("synthesizing")
    s.set_meta("k", "v1")
    s.set_meta("k", "v2")
    s.close()

    r = _reopen(target)
    exp = r.experiment(eid)
    assert exp.params == {"Fe": 0.7, "Co": 0.3} and exp.reason == "bo: qlognei"
    assert exp.predicted == {"m": [1.0, 0.5]}
    assert exp.status == st.SYNTHESIZED and exp.sample_id == "S0001"
    assert exp.scalars == {"peak_two_theta": 44.8}
    arrays = r.arrays(eid, "xrd")
    np.testing.assert_array_equal(arrays["counts"], pattern + 1)
    assert arrays["counts"].dtype == np.float32 and arrays["counts"].shape == (3500,)
    assert len(r.commands()) == 2 and r.command("c1")["result"]["sample_id"] == "S0001"
    assert r.campaign()["state"] == "synthesizing" and r.campaign()["name"] == "demo"
    assert r.get_meta("k") == "v2"
    kinds = [e["kind"] for e in r.events()]
    assert kinds[:2] == ["campaign_created", "experiment_added"]
    assert [e["seq"] for e in r.events()] == sorted(e["seq"] for e in r.events())
    assert r.last_event_seq() == r.events()[-1]["seq"]
    assert "measured" in r.event_kinds()
    assert r.counts()[st.SYNTHESIZED] == 1


def test_a_second_creation_is_refused_and_conditional_updates_are_exclusive(target: str) -> None:
    s = _new(target)
    with pytest.raises(StoreError, match="already holds campaign"):
        _new(target)
    eid = s.add_experiment({"x": 1.0}, st.AWAITING_APPROVAL, "planner")
    other = _reopen(target)
    other.update_experiment(eid, status=st.APPROVED, expect=(st.AWAITING_APPROVAL,))
    with pytest.raises(StaleExperiment, match="now approved"):
        s.update_experiment(eid, status=st.REJECTED, expect=(st.AWAITING_APPROVAL,))
    with pytest.raises(StoreError, match="no experiment with id 99"):
        s.update_experiment(99, status=st.REJECTED)


def test_concurrent_writers_lose_nothing(target: str) -> None:
    _new(target).close()
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            s = _reopen(target)
            for i in range(15):
                s.add_experiment({"x": float(k * 100 + i)}, st.APPROVED, "planner")
            s.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    s = _reopen(target)
    ids = [e.id for e in s.experiments()]
    assert len(ids) == 60 == len(set(ids))
    assert len([e for e in s.events() if e["kind"] == "experiment_added"]) == 60


def test_one_agent_per_campaign(target: str) -> None:
    _new(target).close()
    first = run_lock(target, "demo").acquire()
    with pytest.raises(AlreadyRunning):
        run_lock(target, "demo").acquire()
    first.release()
    run_lock(target, "demo").acquire().release()


def test_several_campaigns_share_one_server(pg_url: str) -> None:
    from labpilot.agent.store_pg import campaign_names, list_campaign_urls

    a, b = _new(pg_url, "alpha"), _new(pg_url, "beta")
    a.add_experiment({"x": 1.0}, st.APPROVED, "planner")
    assert campaign_names(pg_url) == ["alpha", "beta"]
    assert len(list_campaign_urls(pg_url)) == 2
    assert _reopen(pg_url, "beta").experiments() == []
    assert len(_reopen(pg_url, "alpha").experiments()) == 1
    with pytest.raises(StoreError, match="holds 2 campaigns .*alpha, beta.*campaign=NAME"):
        open_store(pg_url)
    with pytest.raises(StoreError, match="no campaign 'gamma'"):
        open_store(campaign_target(pg_url, "gamma"))
    b.close()
    a.close()


def test_unreachable_server_is_one_clear_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot connect to postgresql://nobody@127.0.0.1:1/x"):
        open_store("postgresql://nobody@127.0.0.1:1/x?campaign=a")
