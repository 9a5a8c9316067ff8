"""Who an operator command records when it comes through the control endpoint: the sender, not the agent.

The agent runs as one user; an operator on another PC sends `labpilot resolve`
/ `done` / `mode` over the control socket. Each of these records who did it in
its own journal entry (``by``), besides the ``operator_action`` entry: both
must name the operator who sent it. Real parts: the control server on
127.0.0.1 in this process (the agent's side), the operator's commands as
separate `labpilot` processes whose login name is another user's.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys

import pytest

from labpilot.agent.campaign import ControlSpec
from labpilot.agent.control.bridge import start_control
from labpilot.agent.store import Store
from labpilot.drivers import open_instrument
from labpilot.drivers.generic.manual import step_outcome
from tests.agent.test_resolve import faulted  # noqa: F401  (a fixture: a campaign with outcomes unknown)
from tests.conftest import REPO
from tests.drivers.generic.test_manual import _in_flight, _start, _wait_for, journal  # noqa: F401

OPERATOR = "alice-on-pc2"


def _as_operator(*args: str) -> subprocess.CompletedProcess[str]:
    """``labpilot ARGS`` as a separate process whose login name is OPERATOR (getpass reads LOGNAME first)."""
    env = {**os.environ, "LOGNAME": OPERATOR, "USER": OPERATOR}
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def control():  # noqa: ANN201
    """Start the control endpoint on a store; yield its endpoint."""
    servers = []

    def start(store: Store) -> str:
        server = start_control(store, ControlSpec(endpoint="tcp://127.0.0.1:0"))
        servers.append(server)
        return server.endpoint

    yield start
    for server in servers:
        server.stop()


def test_the_agent_runs_as_another_user_than_the_operator() -> None:
    assert getpass.getuser() != OPERATOR  # else the tests below could not tell the two apart


def test_resolve_and_mode_through_the_control_endpoint_record_the_operator(faulted, control) -> None:  # noqa: F811
    db, _ = faulted
    store = Store.open(db)
    endpoint = control(store)
    sender = f"cli:{OPERATOR}@{socket.gethostname()}"
    r = _as_operator("resolve", "1", "--not-made", "--reason", "no film on the holder", "--endpoint", endpoint)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "agent not running" not in r.stdout  # it went through the endpoint
    (said,) = store.events(kind="outcome_resolved")
    assert said["experiment_id"] == 1 and said["data"]["by"] == f"operator {sender}", said
    action = store.events(kind="operator_action")[-1]["data"]
    assert action["cmd"] == "resolve" and action["ok"] and action["actor"] == sender
    r = _as_operator("mode", "supervised", "--endpoint", endpoint)
    assert r.returncode == 0, r.stdout + r.stderr
    (changed,) = store.events(kind="mode_changed")
    assert changed["data"]["by"] == f"operator {sender}", changed
    store.close()


def test_done_through_the_control_endpoint_records_the_operator(journal, control) -> None:  # noqa: F811
    db, store, options = journal
    eid, cid = _in_flight(store)
    driver = open_instrument("manual", "local", options={**options, "poll_s": 0.02})
    driver.attach_journal(db)
    t, out = _start(driver, cid)
    try:
        _wait_for(lambda: step_outcome(store, cid) is None and store.events(kind="manual_requested"),
                  "the manual step is requested")
        endpoint = control(store)
        r = _as_operator("done", str(eid), "--value", "thickness=131.5", "--value", "defects=2",
                         "--endpoint", endpoint)
        assert r.returncode == 0, r.stdout + r.stderr
        sender = f"cli:{OPERATOR}@{socket.gethostname()}"
        assert f"recorded by operator {sender}" in r.stdout, r.stdout
        t.join(30)
        assert out and out[0].scalars == {"thickness": 131.5, "defects": 2.0}, out
        assert step_outcome(store, cid)["by"] == f"operator {sender}"
        action = store.events(kind="operator_action")[-1]["data"]
        assert action["cmd"] == "done" and action["actor"] == sender
    finally:
        driver.close()
        t.join(5)
