"""``labpilot status`` of a parallel campaign says what is in flight, and where."""

from __future__ import annotations

import tomllib
from pathlib import Path

from labpilot.agent import store as st
from labpilot.agent.report import campaign_status, format_status
from labpilot.agent.store import Store


def test_status_lists_the_experiments_in_flight_and_their_instruments(tmp_path: Path,
                                                                      alloy_campaign_file: Path) -> None:
    config = tomllib.loads(alloy_campaign_file.read_text())
    config["execution"] = {"parallel": 3}
    store = Store.create(tmp_path / "s.db", "s", config, "")
    a = store.add_experiment({"Fe": 1.0}, st.SYNTHESIZING, "initial")
    b = store.add_experiment({"Fe": 0.5}, st.MEASURING, "initial")
    store.add_experiment({"Fe": 0.2}, st.APPROVED, "initial")  # waiting for a slot: not in flight yet
    store.command_sent("c-a", a, "sputter2", "synthesize")
    store.command_sent("c-b", b, "xrd", "measure")
    s = campaign_status(store)
    assert [f["experiment"] for f in s["in_flight"]] == [a, b]
    assert f"  in flight: 2 of 3 at once (exp {a} synthesizing on sputter2, exp {b} measuring on xrd)" \
        in format_status(s).splitlines()


def test_a_sequential_campaign_status_has_no_in_flight_line(tmp_path: Path, alloy_campaign_file: Path) -> None:
    store = Store.create(tmp_path / "s.db", "s", tomllib.loads(alloy_campaign_file.read_text()), "")
    assert "in flight" not in format_status(campaign_status(store))
