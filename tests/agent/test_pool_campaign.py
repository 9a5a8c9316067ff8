"""A campaign over a candidate pool (``[space] pool``), through the real CLI.

``validate`` refuses every bad pool naming its key; a dry run proposes rows
named by their id (journaled with the experiment), never the same row twice,
also after the agent is SIGKILLed and resumed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from labpilot.agent.loop.reconfigure import started
from labpilot.agent.store import Store
from labpilot.errors import StoreError

pytestmark = pytest.mark.slow

N_ROWS = 60

SIM = '''
import math
import time

def make(params):
    return {"sample_id": "s-" + str(params["polymer_id"])}

def measure(params):
    time.sleep(0.05)  # a measurement takes a moment: a kill can land mid-run
    d = float(params["polymer_id"][1:]) / 20.0
    return {"index": math.sin(3 * d) + 0.2 * float(params.get("x", 0.0))}
'''

CAMPAIGN = '''
name = "pool-test"
seed = 2
initial_design = 3

[space]
pool = "polymers.csv"
id_column = "polymer_id"
descriptors = ["d_*"]

[budget]
max_experiments = BUDGET

[planner]
name = "PLANNER"
batch_size = 2

[[objectives]]
name = "index"

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
name = "meter"
kind = "python"
address = "local"
options = { role = "measure", function = "sim.py:measure", scalars = { index = "1" } }
'''


def _pool_csv(rows: int = N_ROWS) -> str:
    rng = np.random.default_rng(0)
    lines = ["polymer_id,x,d_a,d_b,d_c,note"]
    for i in range(rows):
        d = i / 20.0
        lines.append(f"P{i},{rng.random():.3f},{d:.3f},{np.sin(3 * d):.4f},{rng.random():.3f},text {i}")
    return "\n".join(lines) + "\n"


def _write(folder: Path, budget: int = 8, planner: str = "bo", campaign: str | None = None,
           pool: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sim.py").write_text(SIM)
    (folder / "polymers.csv").write_text(pool if pool is not None else _pool_csv())
    path = folder / "poly.toml"
    text = campaign if campaign is not None else CAMPAIGN
    path.write_text(text.replace("BUDGET", str(budget)).replace("PLANNER", planner))
    return path


def labpilot(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labpilot.agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``labpilot validate`` (the CLI's own entry point, in this process: one torch import for all cases)."""
    from labpilot.agent.cli import main

    code = main(["validate", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


BAD = [
    ("missing-file", lambda c, p: (c.replace('"polymers.csv"', '"nope.csv"'), p), "space.pool", "no such file"),
    ("no-id-key", lambda c, p: (c.replace('id_column = "polymer_id"\n', ""), p), "space.id_column", "required"),
    ("id-not-a-column", lambda c, p: (c.replace('"polymer_id"', '"pid"'), p), "space.id_column", "'pid' is not a column"),
    ("duplicate-ids", lambda c, p: (c, p.replace("P7,", "P3,")), "space.id_column", "'P3' (2 rows)"),
    ("pattern-matches-nothing", lambda c, p: (c.replace('["d_*"]', '["d_*", "z_*"]'), p), "space.descriptors[1]",
     "'z_*' matches no column"),
    ("text-descriptor", lambda c, p: (c, p.replace("P5,", "P5,0.5,oops,0,0,x\nP5b,")), "space.descriptors",
     "row 6, column 'd_a': 'oops' is not a number"),
    ("parameter-column-missing", lambda c, p: (c.replace('name = "x"', 'name = "y"'), p), "parameters[0](y)",
     "no column 'y'"),
    ("unknown-featurizer", lambda c, p: (c.replace('descriptors = ["d_*"]', 'featurizer = "magpie"'), p),
     "space.featurizer", "unknown featurizer 'magpie'"),
    ("planner-cannot", lambda c, p: (c, p), "planner.name", "'ae-bo' cannot plan over a candidate pool"),
    ("nothing-to-model", lambda c, p: (c.replace('descriptors = ["d_*"]\n', "").split("[[parameters]]")[0]
                                       + c.split('high = 1.0\n')[1], p), "space.descriptors", "nothing else"),
]


@pytest.mark.parametrize("case, edit, field, message", BAD, ids=[b[0] for b in BAD])
def test_validate_refuses_a_bad_pool_naming_the_field(tmp_path, capsys, case, edit, field, message):
    text, pool = edit(CAMPAIGN, _pool_csv())
    path = _write(tmp_path, campaign=text, pool=pool, planner="ae-bo" if case == "planner-cannot" else "bo")
    code, out = _validate(path, capsys)
    assert code != 0 and f"{field}:" in out and message in out, out
    assert "Traceback" not in out


def test_run_refuses_what_validate_refuses_before_creating_anything(tmp_path):
    path = _write(tmp_path, pool=_pool_csv().replace("P7,", "P3,"))
    db = tmp_path / "run.db"
    r = labpilot("run", str(path), "--dry-run", "--db", str(db), "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and "space.id_column" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not db.exists()


def _experiments(db: Path) -> list:
    store = Store.open(db)
    try:
        return store.experiments()
    finally:
        store.close()


def test_a_pool_campaign_dry_runs_and_journals_row_ids_never_twice(tmp_path):
    """From another working directory: the pool path is relative to the campaign file."""
    path = _write(tmp_path / "camp", budget=9)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert labpilot("validate", str(path), cwd=elsewhere).returncode == 0
    db = tmp_path / "run.db"
    r = labpilot("run", str(path), "--dry-run", "--db", str(db), "--speed", "5000", "--quiet", cwd=tmp_path / "camp")
    assert r.returncode == 0, r.stderr[-3000:]
    exps = _experiments(db)
    assert len(exps) == 9 and all(e.status == "completed" for e in exps), [(e.id, e.status) for e in exps]
    ids = [e.params["polymer_id"] for e in exps]
    assert len(set(ids)) == 9 and all(i.startswith("P") for i in ids)
    table = {f"P{i}": row for i, row in enumerate(_pool_csv().splitlines()[1:])}
    for e in exps:  # the instruments got the pool row's parameter values with its id
        assert float(table[e.params["polymer_id"]].split(",")[1]) == e.params["x"]
    events = labpilot("events", "--db", str(db), "--kind", "experiment_added", "--json", cwd=tmp_path)
    added = [json.loads(line)["data"] for line in events.stdout.splitlines() if line.strip()]
    assert [a["params"]["polymer_id"] for a in added] == ids
    assert sum(a["chosen_by"] == "planner" for a in added) == 6 and all(
        a["reason"].startswith("bo") for a in added if a["chosen_by"] == "planner")


def _resume_to_end(path: Path, db: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Resume a stopped dry run to its end: an experiment left outcome unknown is resolved "not made"
    (a python function made nothing that lasts) and the campaign resumed, as an operator would."""
    resumed = subprocess.Popen([sys.executable, "-m", "labpilot.agent.cli", "run", str(path), "--dry-run", "--db",
                                str(db), "--speed", "5000", "--quiet"], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 150
        while resumed.poll() is None and time.monotonic() < deadline:
            store = Store.open(db)
            state, unknown = store.campaign()["state"], store.experiments(("outcome_unknown",))
            store.close()
            if state == "faulted" and unknown:
                for exp in unknown:
                    r = labpilot("resolve", str(exp.id), "--not-made", "--db", str(db), cwd=cwd, timeout=60)
                    assert r.returncode == 0, r.stdout + r.stderr
                r = labpilot("resume", "--db", str(db), cwd=cwd, timeout=60)
                assert r.returncode == 0, r.stdout + r.stderr
            time.sleep(0.2)
        out, err = resumed.communicate(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        resumed.kill()
        store = Store.open(db)
        tail = [(e["kind"], e.get("data")) for e in store.events()[-12:]]
        store.close()
        raise AssertionError(f"the resumed run did not finish; journal tail: {tail}") from None
    return subprocess.CompletedProcess(resumed.args, resumed.returncode, out, err)


def test_sigkill_mid_run_then_resume_never_proposes_a_row_twice(tmp_path):
    path = _write(tmp_path, budget=12, planner="random")
    db = tmp_path / "run.db"
    _run_and_signal(path, db, at=5, sig=signal.SIGKILL, cwd=tmp_path)
    killed_at = len(_experiments(db))
    # The restarted agent marks a command the python instrument never finished as outcome unknown and
    # faults; the operator says "not made" (a python function made nothing that lasts) and resumes.
    r = _resume_to_end(path, db, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    exps = [e for e in _experiments(db) if e.status != "abandoned"]
    ids = [e.params["polymer_id"] for e in exps]
    assert killed_at < 12 and len(exps) == 12, (killed_at, [(e.id, e.status) for e in _experiments(db)])
    assert len(set(ids)) == len(ids), ids


def test_an_operator_overrides_a_proposal_with_another_row_by_its_id(tmp_path):
    from labpilot.agent import store as st
    from labpilot.agent.campaign import load_campaign
    from labpilot.agent.operator import OperatorDesk
    from labpilot.errors import OperatorRefused

    c = load_campaign(_write(tmp_path))
    table = c.space().candidates
    s = Store.create(tmp_path / "c.db", c.name, c.model_dump(mode="json"), "")
    s.add_experiment(table.point(1), st.AWAITING_APPROVAL, "planner", "bo")
    s.add_experiment(table.point(2), st.COMPLETED, "planner", "bo")
    s.set_state("awaiting_approval")
    s.close()
    desk = OperatorDesk(tmp_path / "c.db")
    try:
        with pytest.raises(OperatorRefused, match="'P2' is already experiment 2"):
            desk.override(1, {"polymer_id": "P2"})
        with pytest.raises(OperatorRefused, match="x: 0.5 is not row 'P1'"):
            desk.override(1, {"x": 0.5})
        with pytest.raises(OperatorRefused, match="'P999' is not a row"):
            desk.override(1, {"polymer_id": "P999"})
        desk.override(1, {"polymer_id": "P9"})
        assert desk.store.experiment(1).params == table.point(9)
    finally:
        desk.close()


def test_a_synthesizer_that_refuses_the_row_id_is_named_by_validate(tmp_path, capsys):
    """The sputter driver takes fractions and process settings only: the pool's id would fail every run."""
    from tests.conftest import CAMPAIGNS

    text = (CAMPAIGNS / "alloy_magnetization.toml").read_text()
    (tmp_path / "alloys.csv").write_text("cid,Fe,Co,Ni,Ir,Pt\nA,0.5,0.5,0,0,0\nB,0.7,0.3,0,0,0\n")
    path = tmp_path / "alloy_pool.toml"
    path.write_text(text.replace("[budget]", '[space]\npool = "alloys.csv"\nid_column = "cid"\n'
                                              'featurizer = "elements"\n\n[budget]', 1))
    code, out = _validate(path, capsys)
    assert code != 0 and "space.id_column: the sputter 'sputter' does not accept a parameter 'cid'" in out, out


def test_resuming_with_an_edited_budget_does_not_see_the_pool_path_as_changed(tmp_path):
    """The stored configuration holds the pool's absolute path; the file says it relative to its folder."""
    path = _write(tmp_path, budget=5, planner="random")
    db = tmp_path / "run.db"
    first = labpilot("run", str(path), "--dry-run", "--db", str(db), "--speed", "5000", "--quiet",
                     "--max-experiments", "3", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    path.write_text(path.read_text().replace("max_experiments = 5", "max_experiments = 6"))
    again = labpilot("run", str(path), "--dry-run", "--db", str(db), "--speed", "5000", "--quiet",
                     "--accept-changes", cwd=tmp_path)
    said = again.stdout + again.stderr
    assert again.returncode == 0 and "max_experiments" in said and "space.pool" not in said, said
    ids = [e.params["polymer_id"] for e in _experiments(db)]
    assert len(set(ids)) == len(ids) >= 3, ids


def test_a_pool_without_parameters_sends_the_id_alone_and_mobo_picks_rows(tmp_path):
    """No [[parameters]]: the instruments receive the row id only; mobo's EHVI ranks the rows."""
    text = CAMPAIGN.split("[[parameters]]")[0] + "[[instruments]]" + CAMPAIGN.split("[[instruments]]", 1)[1]
    text = text.replace('[[objectives]]\nname = "index"\n',
                        '[[objectives]]\nname = "index"\n\n[[objectives]]\nname = "cost"\ndirection = "minimize"\n')
    text = text.replace('scalars = { index = "1" }', 'scalars = { index = "1", cost = "1" }')
    path = _write(tmp_path, budget=7, planner="mobo", campaign=text)
    sim = (tmp_path / "sim.py").read_text().replace(
        '+ 0.2 * float(params.get("x", 0.0))}', '+ 0.2 * float(params.get("x", 0.0)), "cost": (d - 1.0) ** 2}')
    (tmp_path / "sim.py").write_text(sim)
    db = tmp_path / "run.db"
    r = labpilot("run", str(path), "--dry-run", "--db", str(db), "--speed", "5000", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    exps = _experiments(db)
    assert all(set(e.params) == {"polymer_id"} and e.status == "completed" for e in exps)
    assert len({e.params["polymer_id"] for e in exps}) == len(exps) == 7
    assert sum(e.chosen_by == "planner" for e in exps) == 4


def _started_with(db: Path, at: int) -> bool:
    """Whether ``at`` experiments exist and one has started: the initial design alone proposes several at once."""
    store = Store.open(db)
    try:
        return len(store.experiments()) >= at and started(store)
    finally:
        store.close()


def _run_and_signal(path: Path, db: Path, at: int, sig: signal.Signals, cwd: Path) -> None:
    """Start a dry run of ``path`` and send it ``sig`` once ``at`` experiments exist and one has started."""
    args = [sys.executable, "-m", "labpilot.agent.cli", "run", str(path), "--dry-run", "--db", str(db),
            "--speed", "5000", "--quiet"]
    # a test run started in the background (`(nohup pytest &)` in a script) ignores SIGINT, a child inherits that and
    # Python then installs no Ctrl-C handler: give the agent a terminal's disposition so the SIGINT is a Ctrl-C
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if _started_with(db, at):
                break
        except StoreError:
            pass
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be sent {sig.name}"
    proc.send_signal(sig)
    proc.communicate(timeout=60)


def _run_and_interrupt(path: Path, db: Path, at: int) -> None:
    """Start a dry run and stop it with SIGINT (Ctrl-C) once ``at`` experiments exist: a resumable campaign."""
    _run_and_signal(path, db, at, signal.SIGINT, cwd=path.parent)
    store = Store.open(db)
    try:
        assert store.campaign()["state"] not in ("completed", "aborted")
    finally:
        store.close()


def test_a_moved_campaign_folder_resumes_with_the_same_pool_and_says_so(tmp_path):
    """Campaign file, pool, featurizer file and database moved together: their paths changed, their content did not."""
    first = tmp_path / "first"
    path = _write(first, budget=10, planner="random",
                  campaign=CAMPAIGN.replace('descriptors = ["d_*"]\n', 'descriptors = ["d_*"]\nfeaturizer = "feat.py:twice"\n'))
    (first / "feat.py").write_text("def twice(values, names):\n    return values * 2.0\n")
    _run_and_interrupt(path, first / "run.db", at=3)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    first.rename(moved)
    r = _resume_to_end(moved / "poly.toml", moved / "run.db", cwd=moved)
    said = r.stdout + r.stderr
    assert r.returncode == 0, said[-3000:]
    assert f"pool moved from {first / 'polymers.csv'} to {moved / 'polymers.csv'}, same content" in said, said
    assert f"{N_ROWS} rows" in said, said
    assert f"featurizer moved from {first / 'feat.py'}:twice to {moved / 'feat.py'}:twice, same content" in said
    store = Store.open(moved / "run.db")
    try:
        ev = store.events(kind="pool_moved")
        assert len(ev) == 1 and ev[0]["data"]["from"]["path"] == str(first / "polymers.csv")
        assert ev[0]["data"]["to"]["path"] == str(moved / "polymers.csv")
        assert ev[0]["data"]["to"]["written"] == "polymers.csv"
        assert store.campaign()["config"]["space"]["pool"] == str(moved / "polymers.csv")
        assert store.campaign()["config"]["space"]["featurizer"] == f"{moved / 'feat.py'}:twice"
        exps = [e for e in store.experiments() if e.status != "abandoned"]
    finally:
        store.close()
    ids = [e.params["polymer_id"] for e in exps]
    assert len(exps) == 10 and len(set(ids)) == 10, ids


def test_a_pool_whose_content_changed_is_refused_naming_space_pool(tmp_path):
    """The same path, one descriptor cell edited (and then a row dropped): not the pool the campaign started with."""
    path = _write(tmp_path, budget=10, planner="random")
    db = tmp_path / "run.db"
    _run_and_interrupt(path, db, at=3)
    before = _experiments(db)
    pool = tmp_path / "polymers.csv"
    lines = pool.read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = "9.999"
    lines[5] = ",".join(cells)
    pool.write_text("\n".join(lines) + "\n")
    r = labpilot("run", str(path), "--dry-run", "--db", str(db), "--speed", "5000", "--quiet", "--accept-changes",
                 cwd=tmp_path)
    said = r.stdout + r.stderr
    assert r.returncode != 0 and "space.pool" in said and "content changed" in said, said
    assert "Traceback" not in said, said
    assert said.count(f"{N_ROWS} rows") == 2, said  # same row count, other content
    pool.write_text("\n".join(lines[:-1]) + "\n")
    r = labpilot("run", str(path), "--dry-run", "--db", str(db), "--speed", "5000", "--quiet", cwd=tmp_path)
    said = r.stdout + r.stderr
    assert r.returncode != 0 and f"{N_ROWS} rows" in said and f"{N_ROWS - 1} rows" in said, said
    after = _experiments(db)
    assert [(e.id, e.status) for e in after] == [(e.id, e.status) for e in before]


def test_a_database_from_before_pool_identities_refuses_a_moved_pool_it_cannot_compare(tmp_path):
    """No journaled identity (an earlier labpilot): a moved pool is refused by name; resumed in place, it is recorded."""
    import sqlite3

    first = tmp_path / "first"
    path = _write(first, budget=10, planner="random")
    db = first / "run.db"
    _run_and_interrupt(path, db, at=3)
    with sqlite3.connect(db) as conn:  # what a database written before identities were journaled holds
        assert conn.execute("DELETE FROM events WHERE kind = 'pool_identified'").rowcount == 1
    moved = tmp_path / "moved"
    first.rename(moved)
    r = labpilot("run", str(moved / "poly.toml"), "--dry-run", "--db", str(moved / "run.db"), "--speed", "5000",
                 "--quiet", cwd=moved)
    said = r.stdout + r.stderr
    assert r.returncode != 0 and f"space.pool: the campaign's pool {first / 'polymers.csv'} is gone" in said, said
    assert "Traceback" not in said, said
    moved.rename(first)
    r = _resume_to_end(path, db, cwd=first)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    store = Store.open(db)
    try:
        (ident,) = store.events(kind="pool_identified")
        assert ident["data"]["why"] == "first identified on a resume" and ident["data"]["rows"] == N_ROWS
        assert ident["data"]["path"] == str(first / "polymers.csv")
    finally:
        store.close()
