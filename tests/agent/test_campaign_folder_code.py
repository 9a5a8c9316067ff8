"""A ``file.py:function`` in a campaign is relative to the campaign file's folder, not the working directory.

Through the real CLI (a subprocess, a real SQLite file, ``--dry-run``): a
campaign whose ``python`` instruments name ``sim.py:make`` runs from another
directory; ``validate`` names a missing file by its field; a moved campaign
folder resumes (the file's content is the same), and a moved folder whose
file changed is refused by name.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labpilot.agent import store as st
from labpilot.agent.store import Store
from tests.agent.edited_code import check_an_edit_runs_only_when_accepted

SIM = """
def make(params):
    return {"sample_id": "s-%.6f" % params["x"]}

def probe(params):
    return {"scalars": {"y": -(params["x"] - 0.3) ** 2}}
"""

CAMPAIGN = """
name = "folder-code"
seed = 1
initial_design = 2
[budget]
max_experiments = 2
[planner]
name = "random"
[[objectives]]
name = "y"
direction = "maximize"
[[parameters]]
name = "x"
type = "continuous"
low = 0.0
high = 1.0
[[instruments]]
name = "maker"
kind = "python"
address = "local"
options = { role = "synthesize", function = "sim.py:make" }
[[instruments]]
name = "probe"
kind = "python"
address = "local"
options = { role = "measure", function = "code/probe.py:probe", scalars = { y = "au" } }
"""


def labpilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def _folder(root: Path, campaign: str = CAMPAIGN) -> Path:
    """``root/campaigns/x/``: the campaign, ``sim.py`` next to it and ``code/probe.py`` below it."""
    folder = root / "campaigns" / "x"
    (folder / "code").mkdir(parents=True)
    (folder / "sim.py").write_text(SIM)
    (folder / "code" / "probe.py").write_text(SIM)
    (folder / "campaign.toml").write_text(campaign)
    return folder


def _done(db: Path) -> int:
    store = Store.open(db)
    try:
        return store.counts()[st.COMPLETED]
    finally:
        store.close()


def test_a_python_function_file_is_found_from_any_working_directory_and_a_moved_folder_resumes(
        tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    db = elsewhere / "c.db"
    v = labpilot("validate", str(folder / "campaign.toml"), cwd=elsewhere)
    assert v.returncode == 0, v.stderr
    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(db), "--quiet", cwd=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _done(db) == 2
    stored = Store.open(db).campaign()["config"]["instruments"]
    assert stored[0]["options"]["function"] == f"{folder.resolve()}/sim.py:make"
    assert stored[1]["options"]["function"] == f"{folder.resolve()}/code/probe.py:probe"

    moved = tmp_path / "moved"
    (tmp_path / "campaigns").rename(moved)  # the old files are gone: the resume must use the new ones
    r = labpilot("run", str(moved / "x" / "campaign.toml"), "--dry-run", "--db", str(db), "--max-experiments", "3",
                 cwd=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "function file moved, same content: instruments[0].options.function" in r.stdout
    assert _done(db) == 3
    store = Store.open(db)
    try:
        event = store.events(kind="code_moved")[-1]["data"]
        assert [m[0] for m in event["moves"]] == ["instruments[0].options.function", "instruments[1].options.function"]
        assert store.campaign()["config"]["instruments"][0]["options"]["function"] == \
            f"{(moved / 'x').resolve()}/sim.py:make"
    finally:
        store.close()

    # moved again, and its code changed: not the campaign's function any more, refused by name
    again = tmp_path / "again"
    moved.rename(again)
    (again / "x" / "sim.py").write_text(SIM.replace("s-%.6f", "t-%.6f"))
    r = labpilot("run", str(again / "x" / "campaign.toml"), "--dry-run", "--db", str(db), "--max-experiments", "4",
                 cwd=elsewhere)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "instruments[0].options.function cannot change once experiments have started" in r.stderr
    assert _done(db) == 3


def test_a_function_file_edited_in_place_is_a_listed_change_that_runs_only_when_accepted(tmp_path: Path) -> None:
    """Same path, other code (a driver function fixed after a fault): never silently run, never silently ignored."""
    folder = _folder(tmp_path)
    check_an_edit_runs_only_when_accepted(folder, folder / "sim.py", SIM.replace("s-%.6f", "t-%.6f"),
                                          "instruments[0].options.function", "function file")


def test_validate_and_run_refuse_a_missing_function_file_naming_the_field(tmp_path: Path) -> None:
    folder = _folder(tmp_path, CAMPAIGN.replace("code/probe.py:probe", "code/nope.py:probe"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "code").mkdir()
    (elsewhere / "code" / "nope.py").write_text(SIM)  # in the working directory: must not be what is found
    v = labpilot("validate", str(folder / "campaign.toml"), cwd=elsewhere)
    assert v.returncode == 1 and "Traceback" not in v.stderr
    assert (f"instruments[1](probe).options.function: no such file '{folder.resolve()}/code/nope.py'"
            in v.stderr), v.stderr
    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(elsewhere / "c.db"), cwd=elsewhere)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "instruments[1](probe).options.function: no such file" in r.stderr


def test_every_function_option_is_made_absolute_against_the_campaign_folder(tmp_path: Path,
                                                                            monkeypatch) -> None:
    """python ``function`` and manual ``dry_run_model`` alike; a module reference stays as written."""
    from labpilot.agent.campaign import load_campaign
    from labpilot.agent.code_refs import CODE_OPTIONS

    folder = _folder(tmp_path, CAMPAIGN + """
[[instruments]]
name = "review"
kind = "manual"
address = "local"
options = { role = "measure", scalars = { y2 = "au" }, dry_run_model = "sim.py:probe" }
[[instruments]]
name = "other"
kind = "python"
address = "local"
options = { role = "measure", function = "json:loads", scalars = { y3 = "au" } }
""")
    monkeypatch.chdir(tmp_path)
    c = load_campaign(Path("campaigns/x/campaign.toml"))
    opts = [inst.options for inst in c.instruments]
    assert opts[2]["dry_run_model"] == f"{folder.resolve()}/sim.py:probe"
    assert opts[0]["function"] == f"{folder.resolve()}/sim.py:make" and opts[3]["function"] == "json:loads"
    assert set(CODE_OPTIONS) == {"python", "manual"}
