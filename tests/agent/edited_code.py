"""One check for code edited in place on resume, shared by the function-file and command-script tests.

Same path, other code (a driver fixed after a fault): the resume lists it by
its field and refuses without ``--accept-changes``; with it, the new code runs
(the third sample is the new code's) and ``code_changed`` journals the new
identity; a further resume has nothing to report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labpilot.agent.store import Store


def _labpilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def check_an_edit_runs_only_when_accepted(folder: Path, edited: Path, new_text: str, field: str, noun: str) -> None:
    """Run ``folder``'s campaign (2 experiments), write ``new_text`` to ``edited`` (its sample ids start ``t-``), resume."""
    db = folder / "edited.db"
    campaign = str(folder / "campaign.toml")
    r = _labpilot("run", campaign, "--dry-run", "--db", str(db), "--quiet", cwd=folder)
    assert r.returncode == 0, r.stderr[-3000:]
    edited.write_text(new_text)

    r = _labpilot("run", campaign, "--dry-run", "--db", str(db), "--max-experiments", "3", cwd=folder)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert f"{field}: '{edited.resolve()} (sha256 " in r.stdout
    assert "instruments[1]" not in r.stdout  # the other instrument's code is unchanged
    assert f"{field}: the {noun} was edited; pass --accept-changes" in r.stderr

    r = _labpilot("run", campaign, "--dry-run", "--db", str(db), "--max-experiments", "3", "--accept-changes",
                  cwd=folder)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{noun} edited, its new code runs from now on: {field}" in r.stdout
    store = Store.open(db)
    try:
        assert [e.sample_id[:2] for e in store.experiments()] == ["s-", "s-", "t-"]  # the new code made the third
        event = store.events(kind="code_changed")[-1]["data"]
        assert [e[0] for e in event["edits"]] == [field]
        assert event["refs"][field]["sha256"] == event["edits"][0][3]
    finally:
        store.close()

    # the edit is now the journaled identity: a further resume has nothing to report
    r = _labpilot("run", campaign, "--dry-run", "--db", str(db), "--max-experiments", "4", cwd=folder)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "the campaign file differs" not in r.stdout and f"{noun} edited" not in r.stdout
    store = Store.open(db)
    try:
        assert store.counts()["completed"] == 4
    finally:
        store.close()
