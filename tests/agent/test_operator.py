"""The operator desk on a real campaign database: validation and provenance, without a running agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from labpilot.errors import OperatorRefused
from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign
from labpilot.agent.operator import OperatorDesk
from labpilot.agent.store import Store


@pytest.fixture
def desk(tmp_path: Path, alloy_campaign_file: Path) -> OperatorDesk:
    c = load_campaign(alloy_campaign_file)
    s = Store.create(tmp_path / "c.db", c.name, c.model_dump(mode="json"), alloy_campaign_file.read_text())
    s.add_experiment({"Fe": 0.5, "Co": 0.5, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, st.AWAITING_APPROVAL, "planner", "bo")
    s.add_experiment({"Fe": 0.2, "Co": 0.8, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, st.APPROVED, "planner", "bo")
    s.add_experiment({"Fe": 0.9, "Co": 0.1, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, st.COMPLETED, "planner", "bo")
    s.set_state("awaiting_approval")
    s.close()
    d = OperatorDesk(tmp_path / "c.db", limit_check=lambda p: ["max_target_power_w exceeded"] if p["Pt"] > 0.15 else [])
    yield d
    d.close()


def test_override_is_recorded_as_the_operators_choice(desk: OperatorDesk) -> None:
    result = desk.override(1, {"Fe": 0.7, "Co": 0.3}, reason="reference")
    exp = desk.store.experiment(1)
    assert result["status"] == "approved" and exp.chosen_by == "operator" and exp.reason == "reference"
    assert exp.params["Fe"] == 0.7 and exp.params["Co"] == 0.3
    (detail,) = desk.store.events(kind="override_detail")
    assert detail["data"]["before"]["Fe"] == 0.5


def test_override_out_of_bounds_names_the_bound(desk: OperatorDesk) -> None:
    with pytest.raises(OperatorRefused, match=r"Ir: 0.5 is above the upper bound 0.2"):
        desk.override(1, {"Fe": 0.0, "Co": 0.5, "Ir": 0.5})
    assert desk.store.experiment(1).chosen_by == "planner"


def test_override_beyond_a_safety_limit_is_refused(desk: OperatorDesk) -> None:
    with pytest.raises(OperatorRefused, match="max_target_power_w"):
        desk.override(1, {"Fe": 0.3, "Co": 0.5, "Pt": 0.2})


def test_decisions_on_the_wrong_status_are_refused(desk: OperatorDesk) -> None:
    with pytest.raises(OperatorRefused, match="experiment 3 is completed"):
        desk.approve(3)
    with pytest.raises(OperatorRefused, match="experiment 2 is approved"):
        desk.approve(2)  # already approved
    with pytest.raises(OperatorRefused, match="no experiment with id 42"):
        desk.reject(42)
    desk.reject(2, reason="changed my mind")  # approved but not started: still reviewable
    assert desk.store.experiment(2).status == "rejected"


def test_pause_and_abort_are_requests_for_the_agent(desk: OperatorDesk) -> None:
    desk.pause(now=True)
    assert desk.store.pause_request() == "now"
    desk.abort("end of shift")
    assert desk.store.abort_request() == "end of shift"
    with pytest.raises(OperatorRefused, match="not paused or faulted"):
        desk.store.clear_pause_request()
        desk.resume()


def test_queue_lists_what_waits(desk: OperatorDesk) -> None:
    q = desk.queue()
    assert [(i["id"], i["status"]) for i in q["queue"]] == [(1, "awaiting_approval"), (2, "approved")]
