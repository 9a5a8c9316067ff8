"""A ``command`` instrument runs in the campaign file's folder, not the working directory of ``labpilot run``.

Through the real CLI (subprocesses, real SQLite files, real programs, ``--dry-run``):
a campaign whose command instruments name ``tools/make.py`` and ``probe.py``
runs from another directory (its result files and run markers land beside
the campaign); ``validate`` and ``run`` name a missing script or ``cwd`` by
its field; a moved campaign folder resumes (its ``cwd`` moved with it,
journaled), a ``cwd`` the file changes is refused once experiments started;
a database stored before the rule (no ``cwd``) resumes in the working
directory, as it started.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign, loads_campaign
from labpilot.agent.store import Store
from labpilot.drivers.generic.command import python_script

MAKE = """
import json, sys
req = json.load(sys.stdin)
print("making", req["command_id"])  # a log line before the result: the last line is read
print(json.dumps({"sample_id": "s-%.6f" % req["params"]["x"]}))
"""

PROBE = """
import json, os, sys
req = json.load(sys.stdin)
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as fh:
    json.dump({"scalars": {"y": -(req["params"]["x"] - 0.3) ** 2}}, fh)
os.replace(tmp, sys.argv[1])
"""

CAMPAIGN = """
name = "folder-command"
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
kind = "command"
address = "local"
options = { role = "synthesize", argv = ["{python}", "tools/make.py"] }
[[instruments]]
name = "probe"
kind = "command"
address = "local"
[instruments.options]
role = "measure"
argv = ["{python}", "-u", "probe.py", "{result_file}"]
result_file = "runs/{command_id}.json"
scalars = { y = "au" }
"""


def labpilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def _folder(root: Path, campaign: str = CAMPAIGN) -> Path:
    """``root/campaigns/x/``: the campaign, ``probe.py`` next to it and ``tools/make.py`` below it."""
    folder = root / "campaigns" / "x"
    (folder / "tools").mkdir(parents=True)
    (folder / "tools" / "make.py").write_text(MAKE)
    (folder / "probe.py").write_text(PROBE)
    (folder / "campaign.toml").write_text(campaign)
    return folder


def _elsewhere(root: Path) -> Path:
    out = root / "elsewhere"
    out.mkdir()
    return out


def _done(db: Path) -> int:
    store = Store.open(db)
    try:
        return store.counts()[st.COMPLETED]
    finally:
        store.close()


def _cwds(db: Path) -> list[str | None]:
    store = Store.open(db)
    try:
        return [inst["options"].get("cwd") for inst in store.campaign()["config"]["instruments"]]
    finally:
        store.close()


def test_a_command_runs_in_the_campaign_folder_from_any_working_directory_and_a_moved_folder_resumes(
        tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    elsewhere = _elsewhere(tmp_path)
    db = elsewhere / "c.db"
    v = labpilot("validate", str(folder / "campaign.toml"), cwd=elsewhere)
    assert v.returncode == 0, v.stderr
    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(db), "--quiet", cwd=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _done(db) == 2
    assert _cwds(db) == [str(folder.resolve())] * 2  # explicit in the stored configuration
    results = sorted(p.name for p in (folder / "runs").iterdir())
    assert len([n for n in results if n.endswith(".json")]) == 2  # result files and run markers: beside the campaign
    assert len([n for n in results if n.endswith(".json.started")]) == 2
    assert not (elsewhere / "runs").exists()

    moved = tmp_path / "moved"
    (tmp_path / "campaigns").rename(moved)  # the old folder is gone: the resume must run the moved programs
    r = labpilot("run", str(moved / "x" / "campaign.toml"), "--dry-run", "--db", str(db), "--max-experiments", "3",
                 cwd=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (f"command working directory moved with the campaign folder: instruments[0].options.cwd "
            f"{folder.resolve()} -> {(moved / 'x').resolve()}") in r.stdout
    assert _done(db) == 3
    assert _cwds(db) == [str((moved / "x").resolve())] * 2
    assert len(list((moved / "x" / "runs").glob("*.json"))) == 3  # the earlier runs moved along, the new one beside
    store = Store.open(db)
    try:
        event = store.events(kind="cwd_moved")[-1]["data"]
        assert [m[0] for m in event["moves"]] == ["instruments[0].options.cwd", "instruments[1].options.cwd"]
    finally:
        store.close()

    # the file itself now says another cwd: a change of the campaign, refused by name once experiments started
    text = (moved / "x" / "campaign.toml").read_text()
    (moved / "x" / "sub").mkdir()
    (moved / "x" / "sub" / "probe.py").write_text(PROBE)
    (moved / "x" / "campaign.toml").write_text(text.replace('scalars = { y = "au" }',
                                                            'scalars = { y = "au" }\ncwd = "sub"'))
    r = labpilot("run", str(moved / "x" / "campaign.toml"), "--dry-run", "--db", str(db), "--max-experiments", "4",
                 cwd=elsewhere)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "instruments[1].options.cwd cannot change once experiments have started" in r.stderr, r.stderr
    assert _done(db) == 3


def test_validate_and_run_refuse_a_missing_script_or_cwd_naming_the_field(tmp_path: Path) -> None:
    folder = _folder(tmp_path, CAMPAIGN.replace('"probe.py"', '"nope.py"'))
    elsewhere = _elsewhere(tmp_path)
    (elsewhere / "nope.py").write_text(PROBE)  # in the working directory: must not be what is found
    v = labpilot("validate", str(folder / "campaign.toml"), cwd=elsewhere)
    assert v.returncode == 1 and "Traceback" not in v.stderr
    assert (f"instruments[1](probe).options.argv[2]: 'nope.py' is not a file (the script {{python}} runs, "
            f"relative to {folder.resolve()})") in v.stderr, v.stderr
    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(elsewhere / "c.db"), cwd=elsewhere)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "instruments[1](probe).options.argv[2]: 'nope.py' is not a file" in r.stderr, r.stderr
    assert not (elsewhere / "c.db").exists() or _done(elsewhere / "c.db") == 0

    (folder / "campaign.toml").write_text(CAMPAIGN.replace('options = { role = "synthesize",',
                                                           'options = { cwd = "gone", role = "synthesize",'))
    v = labpilot("validate", str(folder / "campaign.toml"), cwd=elsewhere)
    assert v.returncode == 1 and "Traceback" not in v.stderr
    assert f"instruments[0](maker).options.cwd: '{folder.resolve()}/gone' is not a directory" in v.stderr, v.stderr


def test_the_cwd_is_made_absolute_against_the_campaign_folder(tmp_path: Path, monkeypatch) -> None:
    """Absent: the folder; relative: below it; absolute: as written. Read without a folder: left absent."""
    text = CAMPAIGN + """
[[instruments]]
name = "other"
kind = "command"
address = "local"
options = { role = "measure", argv = ["{python}", "probe.py"], scalars = { y2 = "au" }, cwd = "tools/.." }
[[instruments]]
name = "fixed"
kind = "command"
address = "local"
options = { role = "measure", argv = ["true"], scalars = { y3 = "au" }, cwd = "ABS" }
""".replace("ABS", str(tmp_path))
    folder = _folder(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    opts = [inst.options for inst in load_campaign(Path("campaigns/x/campaign.toml")).instruments]
    assert [o["cwd"] for o in opts] == [str(folder.resolve()), str(folder.resolve()),
                                        f"{folder.resolve()}/tools/..", str(tmp_path)]
    assert "cwd" not in loads_campaign(CAMPAIGN).instruments[0].options


@pytest.mark.parametrize(("argv", "script"), [
    (["{python}", "s.py"], 1), (["{python}", "-u", "-W", "ignore", "s.py", "-m"], 4), (["{python}", "-m", "mod"], None),
    (["{python}", "-c", "print(1)"], None), (["{python}"], None), (["prog", "s.py"], None),
])
def test_the_script_python_runs_is_told_from_its_options(argv: list[str], script: int | None) -> None:
    assert python_script(argv) == script


def test_a_database_stored_before_the_rule_resumes_in_the_working_directory(tmp_path: Path) -> None:
    """Its stored configuration has no cwd: its commands run where they ran (their run files are there)."""
    legacy = CAMPAIGN.replace('"tools/make.py"', '"campaigns/x/tools/make.py"').replace('"probe.py"',
                                                                                         '"campaigns/x/probe.py"')
    folder = _folder(tmp_path, legacy)
    db = tmp_path / "old.db"
    config = load_campaign(folder / "campaign.toml").model_dump(mode="json")
    for inst in config["instruments"]:
        del inst["options"]["cwd"]  # what labpilot stored before command instruments ran in the file's folder
    Store.create(db, "folder-command", config, legacy).close()

    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "they run relative to the working directory (maker in" in r.stdout
    assert _done(db) == 2 and _cwds(db) == [None, None]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 2 and not (folder / "runs").exists()

    # a budget raised in the file (--accept-changes): the cwd the file now resolves to is not an edit
    (folder / "campaign.toml").write_text(legacy.replace("max_experiments = 2", "max_experiments = 3"))
    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(db), "--accept-changes", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "options.cwd" not in r.stdout.split("applied the changes")[0]
    assert _done(db) == 3 and _cwds(db) == [None, None]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 3
    # the same file as a new campaign follows the rule: its working-directory paths are not in its folder
    v = labpilot("validate", str(folder / "campaign.toml"), cwd=tmp_path)
    assert v.returncode == 1 and "instruments[0](maker).options.argv[1]: 'campaigns/x/tools/make.py'" in v.stderr
