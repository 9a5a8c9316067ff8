"""A ``command`` instrument runs in the campaign file's folder, not the working directory of ``labpilot run``.

Through the real CLI (subprocesses, real SQLite files, real programs, ``--dry-run``):
a campaign whose command instruments name ``tools/make.py`` and ``probe.py``
runs from another directory (its result files and run markers land beside
the campaign); ``validate`` and ``run`` name a missing script or ``cwd`` by
its field; a moved campaign folder resumes (its ``cwd`` moved with it,
journaled), a ``cwd`` the file changes is refused once experiments started;
a database stored before the rule (no ``cwd``) resumes in the working
directory, as it started. A command's script is identified by content like a
function file: one edited in place is refused by name unless
``--accept-changes``, a moved one (with its folder, or at another absolute
path) with the same content resumes, a moved and edited one is refused.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign, loads_campaign
from labpilot.agent.store import Store
from labpilot.drivers.generic.command import python_script, script_items
from tests.agent.edited_code import check_an_edit_runs_only_when_accepted

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


def _events(db: Path, kind: str) -> list[dict]:
    store = Store.open(db)
    try:
        return [e["data"] for e in store.events(kind=kind)]
    finally:
        store.close()


def _samples(db: Path) -> list[str]:
    """The first two characters of each experiment's sample id: which code made it."""
    store = Store.open(db)
    try:
        return [e.sample_id[:2] for e in store.experiments()]
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

    # the scripts' identities are journaled where they now lie (so an edit there is noticed)
    ident = _events(db, "code_identified")[-1]
    assert ident["why"] == "moved with the campaign folder"
    assert ident["refs"]["instruments[1].options.argv[2]"]["ref"] == str((moved / "x" / "probe.py").resolve())

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


RUNNER = '''
from labpilot.drivers.generic.command import CommandDriver


class Runner(CommandDriver):
    """A lab's own command kind (a plugin would register it under a name; a campaign may name the class)."""
'''


def test_a_subclass_of_the_command_driver_under_its_own_kind_runs_in_the_campaign_folder_too(tmp_path: Path) -> None:
    own_kind = CAMPAIGN.replace('kind = "command"', 'kind = "mylab.runner:Runner"', 1)  # the maker
    assert own_kind != CAMPAIGN
    folder = _folder(tmp_path, own_kind)
    (folder / "mylab").mkdir()
    (folder / "mylab" / "__init__.py").write_text("")
    (folder / "mylab" / "runner.py").write_text(RUNNER)
    elsewhere = _elsewhere(tmp_path)
    db = elsewhere / "c.db"
    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(db), "--quiet", cwd=elsewhere)
    assert r.returncode == 0, r.stderr[-3000:]  # tools/make.py is found in the campaign's folder
    assert _done(db) == 2 and _cwds(db) == [str(folder.resolve())] * 2
    refs = _events(db, "code_identified")[-1]["refs"]
    assert refs["instruments[0].options.argv[1]"]["ref"] == str(folder.resolve() / "tools" / "make.py")


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
    ident = _events(db, "code_identified")  # its scripts had no identity: journaled where they ran
    assert [e["why"] for e in ident] == ["first identified on a resume"]
    assert ident[0]["refs"]["instruments[1].options.argv[2]"]["ref"] == str(folder / "probe.py")
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


def test_a_command_script_edited_in_place_is_a_listed_change_that_runs_only_when_accepted(tmp_path: Path) -> None:
    """Same path, other code (a simulation script fixed after a fault): never silently run, never silently ignored."""
    folder = _folder(tmp_path)
    check_an_edit_runs_only_when_accepted(folder, folder / "tools" / "make.py", MAKE.replace("s-%.6f", "t-%.6f"),
                                          "instruments[0].options.argv[1]", "command script")
    db = folder / "edited.db"
    assert set(_events(db, "code_identified")[0]["refs"]) == {"instruments[0].options.argv[1]",
                                                              "instruments[1].options.argv[2]"}  # at creation


def test_a_moved_command_script_resumes_by_content_and_a_moved_edited_one_is_refused(tmp_path: Path) -> None:
    """An absolute script path the file changes, same content: moved (``code_moved``); a folder moved with an
    edited script: another file, refused by name; a script edited after its folder moved: noticed there."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "probe.py").write_text(PROBE)
    folder = _folder(tmp_path, CAMPAIGN.replace('"probe.py"', f'"{shared / "probe.py"}"'))
    db = tmp_path / "c.db"
    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(db), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]

    moved = tmp_path / "shared2"
    shared.rename(moved)
    text = (folder / "campaign.toml").read_text().replace(str(shared), str(moved))
    (folder / "campaign.toml").write_text(text)
    r = labpilot("run", str(folder / "campaign.toml"), "--dry-run", "--db", str(db), "--max-experiments", "3",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (f"command script moved, same content: instruments[1].options.argv[2] {shared / 'probe.py'} -> "
            f"{moved / 'probe.py'}") in r.stdout
    assert "the campaign file differs" not in r.stdout
    assert _done(db) == 3
    event = _events(db, "code_moved")[-1]
    assert event["moves"] == [["instruments[1].options.argv[2]", str(shared / "probe.py"), str(moved / "probe.py")]]
    assert event["refs"]["instruments[1].options.argv[2]"]["ref"] == str(moved / "probe.py")

    # the campaign folder moved and its relative script changed: not the campaign's script, refused by name
    (tmp_path / "campaigns").rename(tmp_path / "moved")
    again = tmp_path / "moved" / "x"
    (again / "tools" / "make.py").write_text(MAKE.replace("s-%.6f", "t-%.6f"))
    r = labpilot("run", str(again / "campaign.toml"), "--dry-run", "--db", str(db), "--max-experiments", "4",
                 "--accept-changes", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert f"'{folder.resolve()}/tools/make.py (sha256 " in r.stdout and f"'{again.resolve()}/tools/make.py" in r.stdout
    assert "instruments[0].options.argv[1] cannot change once experiments have started" in r.stderr, r.stderr
    assert _done(db) == 3

    # restored, the moved folder resumes; an edit where it now lies is noticed there
    (again / "tools" / "make.py").write_text(MAKE)
    r = labpilot("run", str(again / "campaign.toml"), "--dry-run", "--db", str(db), "--max-experiments", "4",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _done(db) == 4
    (again / "tools" / "make.py").write_text(MAKE.replace("s-%.6f", "t-%.6f"))
    r = labpilot("run", str(again / "campaign.toml"), "--dry-run", "--db", str(db), "--max-experiments", "5",
                 cwd=tmp_path)
    assert r.returncode != 0 and "instruments[0].options.argv[1]: the command script was edited" in r.stderr
    assert _samples(db) == ["s-"] * 4


@pytest.mark.parametrize(("argv", "items"), [
    (["{python}", "-u", "s.py"], [2]), (["{python}", "{script}"], []), (["{python}", "-m", "mod"], []),
    (["./run.sh", "a.py"], [0]), (["tools/run.sh"], [0]), (["/usr/bin/env", "python3", "s.py"], []), (["true"], []),
])
def test_the_files_a_command_runs_are_its_script_or_its_own_program_by_relative_path(argv: list[str],
                                                                                     items: list[int]) -> None:
    assert script_items(argv) == items
