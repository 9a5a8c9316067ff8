"""The dashboard over HTTP (no browser): security rules, the same refusals as the CLI, journaled actors.

Uses Starlette's test client against the real app on a real campaign
database; the actions go through the same ``OperatorDesk`` the CLI uses
when no agent is running.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from labpilot.errors import ControlSecurityError
from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign
from labpilot.agent.store import Store
from labpilot.agent.web.app import create_app
from labpilot.agent.web.catalog import Catalog
from labpilot.agent.web.security import Guard, check_serve_bind

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token-for-the-lab-0123456789"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    camp = load_campaign(REPO / "campaigns" / "alloy_magnetization.toml")
    data = camp.model_dump(mode="json")
    data["mode"] = "supervised"
    path = tmp_path / "night.db"
    s = Store.create(path, camp.name, data, "")
    s.set_state("awaiting_approval")
    for fe in (0.2, 0.3, 0.4):
        s.add_experiment({"Fe": fe, "Co": 0.8 - fe, "Ni": 0.2, "Ir": 0.0, "Pt": 0.0}, st.AWAITING_APPROVAL, "planner",
                         planner="bo", reason="bo: qlognei on 6 results", predicted={"magnetization": (1500.0, 120.0)})
    s.close()
    return path


def client(db: Path, token: str | None = None, host: str = "127.0.0.1") -> TestClient:
    app = create_app(Catalog([str(db)]), Guard(token=token, loopback_only=host == "127.0.0.1"))
    return TestClient(app, base_url=f"http://{host}:8787")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def test_page_shows_the_queue_with_predictions_and_reasons(db: Path) -> None:
    c = client(db)
    html = c.get("/c/night").text
    assert "magnetization (emu/cm³): 1500 ± 1.2e+02" in html
    assert "bo: qlognei on 6 results" in html
    assert 'data-testid="approve-1"' in html
    assert c.get("/static/app.js").status_code == 200
    assert c.get("/c/nothing").status_code == 404
    svg = c.get("/c/night/plot/objectives.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")


def test_actions_go_through_the_desk_with_its_refusals_and_are_journaled_with_who(db: Path) -> None:
    c = client(db)
    page = c.get("/c/night").text
    token = csrf_of(page)
    c.post("/whoami", data={"csrf": token, "name": "bob"})
    h = {"Accept": "application/json"}
    r = c.post("/c/night/act", data={"csrf": token, "op": "approve", "ids": ["1", "2"]}, headers=h).json()
    assert [x["ok"] for x in r["results"]] == [True, True]
    assert "experiment 1 is now approved" in r["results"][0]["message"]
    r = c.post("/c/night/act", data={"csrf": token, "op": "approve", "ids": ["1"]}, headers=h).json()
    assert r["results"] == [{"ok": False, "message": "approve 1: experiment 1 is approved; only experiments "
                                                     "awaiting_approval can be approved"}]
    r = c.post("/c/night/act", data={"csrf": token, "op": "override", "ids": ["3"], "p.Fe": "1.4"}, headers=h).json()
    assert not r["results"][0]["ok"] and "Fe: 1.4 is above the upper bound 1" in r["results"][0]["message"]
    r = c.post("/c/night/act", data={"csrf": token, "op": "reject", "ids": ["3"], "reason": "no Pt"}, headers=h).json()
    assert r["results"][0]["ok"]
    s = Store.open(db)
    assert [e.status for e in s.experiments()] == ["approved", "approved", "rejected"]
    acts = [e["data"] for e in s.events(kind="operator_action")]
    assert [(a["cmd"], a["ok"]) for a in acts] == [("approve", True), ("approve", True), ("approve", False),
                                                   ("override", False), ("reject", True)]
    assert {a["actor"] for a in acts} == {"web:bob@testclient"}


def test_forms_without_the_csrf_token_or_from_another_site_are_refused(db: Path) -> None:
    c = client(db)
    token = csrf_of(c.get("/c/night").text)
    h = {"Accept": "application/json"}
    r = c.post("/c/night/act", data={"op": "approve", "ids": ["1"]}, headers=h)
    assert r.status_code == 403 and "CSRF" in r.json()["results"][0]["message"]
    r = c.post("/c/night/act", data={"csrf": "0" * 64, "op": "approve", "ids": ["1"]}, headers=h)
    assert r.status_code == 403
    r = c.post("/c/night/act", data={"csrf": token, "op": "approve", "ids": ["1"]},
               headers={**h, "Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-site" in r.text
    # another browser (no session cookie) cannot reuse this session's token
    other = client(db)
    r = other.post("/c/night/act", data={"csrf": token, "op": "approve", "ids": ["1"]}, headers=h)
    assert r.status_code == 403
    assert Store.open(db).experiment(1).status == "awaiting_approval"


def test_wider_bind_needs_a_token_and_the_token_gates_every_page(db: Path) -> None:
    with pytest.raises(ControlSecurityError, match="requires a token"):
        check_serve_bind("0.0.0.0", None)
    with pytest.raises(ControlSecurityError, match="too short"):
        check_serve_bind("0.0.0.0", "short")
    check_serve_bind("127.0.0.1", None)
    check_serve_bind("::1", None)
    check_serve_bind("0.0.0.0", TOKEN)
    c = client(db, token=TOKEN, host="10.0.0.5")
    r = c.get("/c/night", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c.get("/c/night/state.json", follow_redirects=False).status_code == 303
    assert c.get("/c/night/stream", headers={"Accept": "text/event-stream"}).status_code == 401
    assert c.post("/c/night/act", data={"op": "pause"}).status_code == 401
    r = c.post("/login", data={"name": "carol", "token": "wrong-token-wrong-token"})
    assert r.status_code == 403 and "wrong token" in r.text
    r = c.post("/login", data={"name": "carol", "token": TOKEN, "next": "/c/night"})
    assert r.status_code == 200 and "Proposals" in r.text
    token = csrf_of(r.text)
    r = c.post("/c/night/act", data={"csrf": token, "op": "pause"}, headers={"Accept": "application/json"}).json()
    assert r["results"][0]["ok"]
    assert Store.open(db).events(kind="operator_action")[-1]["data"]["actor"] == "web:carol@testclient"


def test_a_loopback_server_refuses_foreign_host_names(db: Path) -> None:
    c = client(db)
    assert c.get("/", headers={"Host": "attacker.example:8787"}).status_code == 421
    assert c.get("/", headers={"Host": "localhost:8787"}).status_code == 200


def test_templates_and_static_files_ship_in_the_package() -> None:
    """Every file the dashboard serves matches the package_data globs of setup.py (a non-editable install)."""
    import ast

    tree = ast.parse((REPO / "setup.py").read_text())
    globs = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                 if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "package_data")
    patterns = globs["labpilot.agent.web"]
    web = REPO / "agent" / "web"
    files = [p.relative_to(web) for p in web.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert files
    assert all(any(f.match(g) for g in patterns) for f in files), files


HOSTILE = '<img src=x onerror="window.pwned=1">'


def test_planner_operator_and_journal_text_is_escaped_on_every_page_and_in_the_report(tmp_path: Path) -> None:
    """A reason, an operator's name or any journaled text is shown as text, never run as HTML."""
    from labpilot.agent.morning_report import build_report

    camp = load_campaign(REPO / "campaigns" / "alloy_magnetization.toml")
    data = camp.model_dump(mode="json")
    data["mode"] = "supervised"
    data["description"] = HOSTILE
    path = tmp_path / "night.db"
    s = Store.create(path, camp.name, data, "")
    s.set_state("awaiting_approval")
    s.add_experiment({"Fe": 0.2, "Co": 0.6, "Ni": 0.2, "Ir": 0.0, "Pt": 0.0}, st.AWAITING_APPROVAL, "planner",
                     planner="bo", reason=HOSTILE, predicted={"magnetization": (1500.0, 120.0)})
    s.log_event("note", reason=HOSTILE, text=HOSTILE)
    s.close()
    c = client(path)
    page = c.get("/c/night")
    token = csrf_of(page.text)
    c.post("/whoami", data={"csrf": token, "name": HOSTILE})
    r = c.post("/c/night/act", data={"csrf": token, "op": "reject", "ids": ["1"], "reason": HOSTILE},
               headers={"Accept": "application/json"})
    assert r.json()["results"][0]["ok"]
    bodies = {"page": c.get("/c/night").text, "index": c.get("/").text,
              "journal": c.get("/c/night/journal").text,
              "report": build_report(Store.open(path))}
    for where, html in bodies.items():
        assert "<img src=x" not in html, where
    assert "&lt;img src=x" in bodies["page"] and "&lt;img src=x" in bodies["journal"]
    assert "&lt;img src=x" in bodies["report"]


def test_the_command_line_parser_never_imports_the_web_stack_or_psycopg() -> None:
    """`labpilot --help` and every sub-command's parser stay fast: the web stack loads only to serve."""
    import subprocess
    import sys

    code = ("import sys; from labpilot.agent.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'jinja2', 'psycopg', 'pyarrow') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_run_serve_shows_the_running_campaign(tmp_path: Path) -> None:
    """`labpilot run --serve 0` serves the dashboard of the run itself (on loopback, any free port)."""
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    text = (REPO / "campaigns" / "alloy_magnetization.toml").read_text()
    camp = tmp_path / "c.toml"
    camp.write_text(text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', ""))
    db = tmp_path / "night.db"
    proc = subprocess.Popen([sys.executable, "-m", "labpilot.agent.cli", "run", str(camp), "--dry-run", "--db", str(db),
                             "--mode", "supervised", "--max-experiments", "2", "--serve", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"dashboard at (http://127\.0\.0\.1:\d+/)", first)
        assert url, first
        # a supervised run waits for review: a state the page must show, whatever the machine's speed
        deadline = time.monotonic() + 120
        page = ""
        while "awaiting_approval" not in page and time.monotonic() < deadline:
            try:
                page = urllib.request.urlopen(url.group(1) + "c/night", timeout=30).read().decode()
            except urllib.error.HTTPError as exc:  # 503 while the run is still creating its database
                assert exc.code == 503 and "not readable yet" in exc.read().decode(), exc
            time.sleep(0.3)
        assert "awaiting_approval" in page and 'data-testid="approve-1"' in page
        abort = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "abort", "--db", str(db)],
                               cwd=REPO, capture_output=True, text=True, timeout=60)
        assert abort.returncode == 0, abort.stderr
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def test_the_best_line_shows_each_objective_with_its_unit_and_the_pareto_front(tmp_path: Path) -> None:
    """Two objectives: the best of each (in its own direction, with units) and the front's size."""
    from tests.web.film_results import film_results

    db = film_results(tmp_path / "film.db", {"hardness": "maximize", "roughness": "minimize"})
    html = client(db).get("/c/film").text
    best = re.search(r'<p id="best">(.*?)</p>', html, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", best))
    assert text == ("best of each objective: hardness (GPa) = 12.5 (maximize, experiment 2) · "
                    "roughness (nm) = 1.25 (minimize, experiment 3) · Pareto front 3 points"), text
    index = client(db).get("/").text  # the campaign list says the same in one cell
    assert "hardness (GPa) = 12.5 (experiment 2); roughness (nm) = 1.25 (experiment 3); Pareto front 3 points" \
        in index


def test_with_one_objective_the_best_line_is_that_objective_with_its_parameters(tmp_path: Path) -> None:
    from tests.web.film_results import film_results

    db = film_results(tmp_path / "film.db", {"hardness": "maximize"})
    html = client(db).get("/c/film").text
    assert "best: <strong>hardness (GPa) = 12.5 (experiment 2: power_w=102" in html
    assert "Pareto" not in html and "best of each" not in html
