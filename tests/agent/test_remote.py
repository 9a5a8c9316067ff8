"""Operating a running dry run from a second process that cannot see the database file.

The campaign's control endpoint listens on loopback with a shared token; the
operator's commands run as separate processes with ``--endpoint`` and
``--token-file``. Where the test may (root, mount namespaces), the folder
holding the database is hidden from those processes by an empty tmpfs, so
they could not read it even by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from labpilot.agent.store import Store
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TOKEN = "remote-operator-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _can_hide() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0



@pytest.fixture
def remote_run(tmp_path: Path, alloy_campaign_file: Path):  # noqa: ANN201
    private = tmp_path / "agent-pc"
    private.mkdir()
    port = _free_port()
    token_file = tmp_path / "operator" / "token"
    token_file.parent.mkdir()
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    agent_token = private / "token"
    agent_token.write_text(TOKEN + "\n")
    agent_token.chmod(0o600)
    text = alloy_campaign_file.read_text().replace("initial_design = 6", "initial_design = 2")
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
    text += f'\n[control]\nendpoint = "tcp://127.0.0.1:{port}"\ntoken_file = "{agent_token}"\n'
    campaign = private / "remote.toml"
    campaign.write_text(text)
    db = private / "remote.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
         "--mode", "supervised", "--max-experiments", "3", "--speed", "5000", "--quiet"],
        cwd=private, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hide = _can_hide()

    def operator(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "labpilot.agent.cli", *args, "--endpoint", f"tcp://127.0.0.1:{port}",
                "--token-file", str(token_file)]
        if hide:  # the database's folder is an empty tmpfs for this process
            argv = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs none "{private}" && exec "$@"', "sh", *argv]
        return subprocess.run(argv, cwd=token_file.parent, capture_output=True, text=True, timeout=60)

    yield db, proc, operator, hide
    if proc.poll() is None:
        proc.terminate()
    proc.communicate(timeout=60)


def test_status_queue_approve_from_a_second_process_without_the_database(remote_run) -> None:  # noqa: ANN001
    db, proc, operator, hide = remote_run
    if hide:  # the operator's process really cannot see the file
        probe = subprocess.run(["unshare", "-m", "sh", "-c", f'mount -t tmpfs none "{db.parent}" && ls "{db.parent}"'],
                               capture_output=True, text=True)
        assert probe.stdout.strip() == ""

    def waiting() -> list[dict]:
        r = operator("queue", "--json")
        if r.returncode != 0:
            return []
        return [q for q in json.loads(r.stdout)["queue"] if q["status"] == "awaiting_approval"]

    first = wait_for(waiting, what="the first proposals")
    r = operator("status")
    assert r.returncode == 0, r.stderr
    assert "campaign 'alloy-magnetization': awaiting_approval (supervised, planner random)" in r.stdout
    r = operator("override", str(first[0]["id"]), "--set", "Fe=1.4")
    assert r.returncode == 2 and "Fe: 1.4 is above the upper bound 1" in r.stderr
    r = operator("approve", str(first[0]["id"]))
    assert r.returncode == 0, r.stderr
    assert f"approve: experiment {first[0]['id']} is now approved" in r.stdout
    assert "agent not running" not in r.stdout

    def approve_all() -> bool:
        for q in waiting():
            operator("approve", str(q["id"]))
        return proc.poll() is not None

    wait_for(approve_all, timeout=150, what="the campaign to end")
    assert proc.returncode == 0, proc.stderr.read()[-2000:] if proc.stderr else ""
    store = Store.open(db)
    assert store.campaign()["state"] == "completed" and store.counts()["completed"] == 3
    acts = [e["data"] for e in store.events(kind="operator_action")]
    assert acts and all(a["actor"].startswith("cli:") for a in acts)
    assert any(a["cmd"] == "override" and not a["ok"] for a in acts)


def test_a_wrong_token_or_no_endpoint_is_one_clear_error(remote_run, tmp_path: Path) -> None:  # noqa: ANN001
    db, proc, operator, hide = remote_run
    wait_for(lambda: operator("status").returncode == 0, what="the control endpoint")
    bad = tmp_path / "bad"
    bad.write_text("not-the-right-token-at-all\n")
    bad.chmod(0o600)
    status = json.loads(operator("status", "--json").stdout)
    ep = status["control_endpoint"]
    r = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "status", "--endpoint", ep, "--token-file", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "token" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "approve", "1", "--endpoint", ep, "--db", str(db)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "either --db" in r.stderr + r.stdout or "not allowed with" in r.stderr


def test_curve_keys_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--endpoint`` with CURVE keys: an admitted key operates, another key is refused by name."""
    from labpilot.agent import store as st
    from labpilot.agent.campaign import ControlSpec, load_campaign
    from labpilot.agent.cli import main
    from labpilot.agent.control.auth import create_curve_keys, curve_available
    from labpilot.agent.control.bridge import start_control

    if not curve_available():
        pytest.skip("libzmq without CURVE")
    server_pub, server_sec = create_curve_keys(tmp_path / "server", "server")
    client_pub, client_sec = create_curve_keys(tmp_path / "clients", "alice")
    _, stranger_sec = create_curve_keys(tmp_path / "strangers", "mallory")
    camp = load_campaign(REPO / "campaigns" / "alloy_magnetization.toml")
    store = Store.create(tmp_path / "c.db", camp.name, {**camp.model_dump(mode="json"), "mode": "supervised"}, "")
    eid = store.add_experiment({"Fe": 0.7, "Co": 0.3, "Ni": 0.0, "Ir": 0.0, "Pt": 0.0}, st.AWAITING_APPROVAL, "planner")
    server = start_control(store, ControlSpec(endpoint="tcp://0.0.0.0:0", curve_secret_file=str(server_sec),
                                              curve_clients_dir=str(tmp_path / "clients")))
    try:
        ep = server.endpoint.replace("0.0.0.0", "127.0.0.1")
        keys = ["--curve-secret-file", str(client_sec), "--curve-server-key", str(server_pub)]
        assert main(["approve", str(eid), "--endpoint", ep, *keys]) == 0
        assert f"experiment {eid} is now approved" in capsys.readouterr().out
        bad = ["--curve-secret-file", str(stranger_sec), "--curve-server-key", str(server_pub)]
        assert main(["queue", "--endpoint", ep, *bad, "--timeout", "2"]) == 2
        assert "refused this client's CURVE key" in capsys.readouterr().err
        assert main(["queue", "--endpoint", ep, "--curve-secret-file", str(client_sec)]) == 2
        assert "needs both" in capsys.readouterr().err
    finally:
        server.stop()
    act = store.events(kind="operator_action")[-1]["data"]
    assert act["cmd"] == "approve" and act["ok"] and act["actor"].startswith("cli:")
