"""The shipped generic campaign (``scpi`` + ``folder`` only): it validates, and its dry run completes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from labpilot.agent.campaign import load_campaign, loads_campaign
from labpilot.agent.campaign_checks import check
from labpilot.errors import CampaignError
from labpilot.simulators.ledger import read_ledger

ROOT = Path(__file__).resolve().parents[3]
CAMPAIGN = ROOT / "campaigns" / "generic_lab.toml"


def labpilot(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_it_uses_only_generic_drivers_and_validates():
    campaign = load_campaign(CAMPAIGN)
    assert {i.kind for i in campaign.instruments} == {"scpi", "folder"}
    assert campaign.synthesizer.name == "sputter" and [m.name for m in campaign.measurers] == ["xrd", "magnetometer"]
    run = labpilot("validate", str(CAMPAIGN))
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr


@pytest.mark.parametrize("old, new, where", [
    ('baud_rate = 9600', 'baudrate = 9600', "instruments[2](magnetometer): options.baudrate: unknown option"),
    ('"SOUR:POW 3,{ni_power_w:.1f}"', '"SOUR:POW 3,{ni_power:.1f}"', "instruments[0](sputter): options.start[5]: "),
    ('scalars.magnetization = {', 'scalars.magnetisation = {', "objectives[0].name: 'magnetization' is measured by none"),
    ('max_gun_power_w = 300.0', 'max_power_w = 300.0', "instruments[0](sputter).limits.max_power_w: unknown safety limit"),
    ('name = "ni_power_w"', 'name = "ni_w"', "parameters[2](ni_w).name: the scpi 'sputter' does not accept a parameter 'ni_w'"),
    ('address = "ASRL/dev/ttyUSB1::INSTR"', 'address = "ASRL/dev/ttyUSB1"', "is not a VISA resource string"),
])
def test_mistakes_in_it_are_named(old, new, where):
    text = CAMPAIGN.read_text()
    assert old in text
    with pytest.raises(CampaignError) as info:  # what the file says on its own, then against the drivers
        check(loads_campaign(text.replace(old, new, 1), "generic_lab.toml"), "generic_lab.toml")
    assert where in str(info.value)


@pytest.mark.slow
def test_its_dry_run_completes_against_simulator_processes(tmp_path):
    db, ledgers = tmp_path / "generic.db", tmp_path / "ledgers"
    run = labpilot("run", str(CAMPAIGN), "--dry-run", "--db", str(db), "--max-experiments", "5",
                   "--speed", "5000", "--ledger-dir", str(ledgers))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "(sputter) pid" in run.stdout and "socket://127.0.0.1:" in run.stdout  # the TCPIP instrument: a TCP simulator
    assert "(folder) pid" in run.stdout and "(magnetometer) pid" in run.stdout
    status = json.loads(labpilot("status", "--db", str(db), "--json").stdout)
    assert status["state"] == "completed" and status["experiments"]["completed"] == 5
    assert status["best"]["objective"] == "magnetization" and status["best"]["value"] > 0
    deposits = Counter(r["command_id"] for r in read_ledger(ledgers / "sputter.jsonl") if r["action"] == "deposit")
    assert len(deposits) == 5 and set(deposits.values()) == {1}
    scans = [r["sample_id"] for r in read_ledger(ledgers / "xrd.jsonl") if r["action"] == "scan"]
    measures = [r["sample_id"] for r in read_ledger(ledgers / "magnetometer.jsonl") if r["action"] == "measure"]
    assert sorted(scans) == sorted(measures) and len(set(measures)) == 5
