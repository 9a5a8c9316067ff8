"""End to end: a campaign with a ``[[prior]]`` table dry-runs through the real CLI and journals what it did with it.

The runner loads the prior with the same loader ``validate`` uses and hands it
to ``bo``; the planner's proposal note (journaled as the experiment's reason)
names the prior and whether it was kept or dropped, and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

#: Earlier films of the same five elements, magnetization under another column name.
OLD_FILMS = """Fe,Co,Ni,Ir,Pt,Ms
0.70,0.30,0.00,0.00,0.00,1950
0.50,0.50,0.00,0.00,0.00,1700
0.20,0.60,0.20,0.00,0.00,1150
0.40,0.20,0.20,0.10,0.10,900
0.10,0.10,0.40,0.20,0.20,350
0.90,0.05,0.05,0.00,0.00,1850
"""


def labpilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_a_campaign_with_a_prior_table_dry_runs_and_journals_which_priors_it_kept(tmp_path: Path) -> None:
    (tmp_path / "old.csv").write_text(OLD_FILMS)
    text = (REPO / "campaigns" / "alloy_magnetization.toml").read_text()
    text = text.replace('acquisition = "qlognei"', 'acquisition = "logei"\nnum_restarts = 2\nraw_samples = 32')
    campaign = tmp_path / "alloy_prior.toml"
    campaign.write_text(text + '\n[[prior]]\nname = "old films"\nsource = "old.csv"\ncolumns = { Ms = "magnetization" }\n')
    assert labpilot("validate", str(campaign), cwd=tmp_path).returncode == 0

    db = tmp_path / "run.db"
    run = labpilot("run", str(campaign), "--dry-run", "--db", str(db), "--max-experiments", "7", "--speed", "5000",
                   "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr

    events = labpilot("events", "--db", str(db), "--kind", "experiment_added", "--json", cwd=tmp_path)
    added = [json.loads(line) for line in events.stdout.splitlines() if line.strip()]
    by_planner = [e["data"] for e in added if e["data"]["chosen_by"] == "planner"]
    assert len(added) == 7 and len(by_planner) == 1, events.stdout
    reason = by_planner[0]["reason"]
    # 6 results of this campaign >= transfer_min_target (5): the source was tested, and the note says how it fared
    assert "old films: LOO" in reason and ("(kept)" in reason or "(dropped)" in reason), reason
    assert reason.count("priors kept") + reason.count("priors not used") == 1, reason


def test_run_refuses_a_prior_it_cannot_read_before_creating_anything(tmp_path: Path) -> None:
    text = (REPO / "campaigns" / "alloy_magnetization.toml").read_text()
    campaign = tmp_path / "alloy_prior.toml"
    campaign.write_text(text + '\n[[prior]]\nsource = "old.csv"\ncolumns = { Ms = "magnetization" }\n')
    (tmp_path / "old.csv").write_text(OLD_FILMS.replace("Ms", "M_s"))
    db = tmp_path / "run.db"
    run = labpilot("run", str(campaign), "--dry-run", "--db", str(db), "--quiet", cwd=tmp_path)
    assert run.returncode == 2 and "prior[0].columns.Ms" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not db.exists()
