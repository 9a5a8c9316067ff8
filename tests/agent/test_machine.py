"""The campaign state machine: legal moves pass, illegal ones raise."""

from __future__ import annotations

import pytest

from labpilot.agent.machine import STATES, CampaignMachine, MachineError


def test_full_loop_reaches_completed() -> None:
    seen: list[tuple[str, str, str]] = []
    m = CampaignMachine(on_change=lambda a, b, t: seen.append((a, b, t)))
    m.start(); m.synthesize(); m.measure(); m.learn(); m.plan(); m.finish()
    assert m.state == "completed"
    assert [t for _, _, t in seen] == ["start", "synthesize", "measure", "learn", "plan", "finish"]


def test_supervised_path_through_approval() -> None:
    m = CampaignMachine()
    m.start(); m.propose(); m.reject()
    assert m.state == "planning"
    m.propose(); m.approve()
    assert m.state == "synthesizing"


@pytest.mark.parametrize("state", ["planning", "awaiting_approval", "synthesizing", "measuring", "learning"])
def test_pause_resumes_where_it_stopped(state: str) -> None:
    m = CampaignMachine(initial=state)
    m.pause()
    assert m.state == "paused"
    m.resume()
    assert m.state == state


def test_fault_while_paused_resumes_to_the_working_state() -> None:
    m = CampaignMachine(initial="measuring")
    m.pause(); m.fault(); m.resume()
    assert m.state == "measuring"


@pytest.mark.parametrize("state,trigger", [
    ("idle", "measure"), ("planning", "approve"), ("synthesizing", "learn"), ("completed", "start"),
    ("aborted", "resume"), ("completed", "pause"), ("measuring", "resume"), ("idle", "pause"),
    ("paused", "measure"), ("faulted", "finish"),
])
def test_illegal_transitions_raise(state: str, trigger: str) -> None:
    m = CampaignMachine(initial=state)
    with pytest.raises(MachineError):
        getattr(m, trigger)()
    assert m.state == state


def test_abort_from_every_non_terminal_state() -> None:
    for state in STATES:
        m = CampaignMachine(initial=state)
        if state in ("completed", "aborted"):
            assert not m.can("abort")
        else:
            m.abort()
            assert m.state == "aborted"


def test_unknown_initial_state() -> None:
    with pytest.raises(ValueError, match="unknown state"):
        CampaignMachine(initial="sleeping")


def test_mermaid_is_drawn_from_the_machine() -> None:
    text = CampaignMachine().mermaid()
    assert text.startswith("stateDiagram-v2")
    for state in STATES:
        assert state in text
    assert "awaiting_approval --> synthesizing: approve" in text


def test_every_event_has_a_typed_trigger_method() -> None:
    m = CampaignMachine()
    events = set(m.machine.events)
    declared = {"start", "propose", "approve", "reject", "synthesize", "measure", "learn", "plan", "finish",
                "pause", "fault", "resume", "abort"}
    assert events == declared
    for name in declared:  # each event has its own typed method
        assert callable(getattr(CampaignMachine, name))
