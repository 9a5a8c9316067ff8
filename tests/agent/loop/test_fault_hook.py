"""The on_fault hook is told about the fault; a broken hook is journaled, never raised."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from labpilot.agent.campaign import load_campaign
from labpilot.agent.loop import fault_hook
from labpilot.agent.store import Store


def _store(tmp_path: Path, campaign_file: Path) -> Store:
    c = load_campaign(campaign_file)
    return Store.create(tmp_path / "c.db", c.name, c.model_dump(mode="json"), campaign_file.read_text())


def test_the_hook_gets_the_fault_as_json(tmp_path: Path, alloy_campaign_file: Path) -> None:
    out = tmp_path / "fault.json"
    store = _store(tmp_path, alloy_campaign_file)
    command = f'{sys.executable} -c "import os; open(r\'{out}\', \'w\').write(os.environ[\'LABPILOT_FAULT\'])"'
    fault = {"instrument": "xrd", "error": "TransportTimeout: no reply", "experiment": 3}
    fault_hook.run_fault_hook(command, fault, store)
    assert json.loads(out.read_text()) == fault
    assert store.events(kind="on_fault_failed") == []


def test_a_hanging_hook_is_journaled(tmp_path: Path, alloy_campaign_file: Path, monkeypatch) -> None:
    monkeypatch.setattr(fault_hook, "HOOK_TIMEOUT_S", 0.2)
    store = _store(tmp_path, alloy_campaign_file)
    fault_hook.run_fault_hook(f'{sys.executable} -c "import time; time.sleep(2)"', {"instrument": "x"}, store)
    (event,) = store.events(kind="on_fault_failed")
    assert "timed out" in event["data"]["error"]
