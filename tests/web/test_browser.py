"""The dashboard in a real headless Chromium (Debian's package) driven by Playwright.

A supervised dry run and ``labpilot serve`` run as real subprocesses; the
browser approves, overrides, pauses and resumes through the page, and sees
experiments complete without reloading. Screenshots go to
``$LABPILOT_SCREENSHOTS`` (or the test's tmp folder).

Skips only when no Chromium executable is installed (CI installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labpilot.agent.store import Store
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("LABPILOT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = chromium_path()
if CHROMIUM is None:
    pytest.skip("no chromium executable installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")



def start_serve(*dbs: Path, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen[str], str]:
    args = [x for db in dbs for x in ("--db", str(db))]
    proc = subprocess.Popen([sys.executable, "-m", "labpilot.agent.cli", "serve", *args, "--port", "0", *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://\S+)", line)
    assert m, f"serve did not announce its URL: {line!r}"
    return proc, m.group(1)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("LABPILOT_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def supervised(tmp_path: Path, alloy_campaign_file: Path):  # noqa: ANN201
    text = alloy_campaign_file.read_text().replace("initial_design = 6", "initial_design = 3")
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', '')
    campaign = tmp_path / "supervised.toml"
    campaign.write_text(text)
    db = tmp_path / "night.db"
    run = subprocess.Popen(
        [sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign), "--dry-run", "--db", str(db),
         "--mode", "supervised", "--max-experiments", "4", "--speed", "5000", "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: db.exists() and not Store.is_blank(db), what="the campaign database")
    serve, url = start_serve(db)
    yield db, run, url
    for proc in (serve, run):
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=60)


@pytest.fixture
def browser():  # noqa: ANN201
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def proposals(page) -> list[int]:  # noqa: ANN001
    return [int(x) for x in page.locator("#queue tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.id)")]


def test_operate_a_supervised_night_from_the_browser(supervised, browser, shots: Path) -> None:  # noqa: ANN001
    db, run, url = supervised
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("dialog", lambda d: d.accept())
    page.goto(url)
    page.get_by_role("link", name="alloy-magnetization").click()
    page.wait_for_selector("#live.on", timeout=15000)  # the event stream is connected
    page.fill("#who-name", "alice")
    page.click("form.who button")
    page.wait_for_selector("#live.on", timeout=15000)
    page.evaluate("window.__same_page = true")  # gone if the page reloads

    # The first proposals arrive live; approve one through the browser.
    page.wait_for_selector("#queue tr[data-id]", timeout=60000)
    first = proposals(page)
    assert len(first) >= 2, first
    page.screenshot(path=str(shots / "1-proposals.png"), full_page=True)
    page.click(f"[data-testid=approve-{first[0]}]")
    page.wait_for_selector(f"#flash .good:has-text('experiment {first[0]} is now approved')", timeout=15000)

    # It completes, and the page shows it without a reload.
    page.wait_for_selector(f"#experiments tr[data-id='{first[0]}'] .st-completed", timeout=90000)
    page.wait_for_selector("#status:has-text('1 completed')", timeout=15000)
    assert page.evaluate("window.__same_page === true")

    # An out-of-bounds override is refused, naming the bound.
    page.click("#override-box summary")
    page.fill("#override-id", str(first[1]))
    page.fill("#override-Fe", "1.4")
    page.click("#override-submit")
    refusal = page.wait_for_selector("#flash .bad", timeout=15000).inner_text()
    assert "Fe" in refusal and "above the upper bound 1" in refusal, refusal
    page.screenshot(path=str(shots / "2-override-refused.png"), full_page=True)

    # Pause and resume.
    page.click("#btn-pause")
    page.wait_for_selector("#flash .good:has-text('pause requested')", timeout=15000)
    page.wait_for_selector("#state:has-text('paused')", timeout=30000)
    page.screenshot(path=str(shots / "3-paused.png"), full_page=True)
    page.click("#btn-resume")
    page.wait_for_selector("#flash .good:has-text('resume requested')", timeout=15000)
    page.wait_for_selector("#state:has-text('awaiting_approval')", timeout=30000)

    # Bulk: select every proposal left and approve them at once, until the budget is spent.
    def approve_all() -> bool:
        if run.poll() is not None:
            return True
        if page.locator("#select-all").count():
            try:  # the queue may change under us (the agent starts an approved proposal)
                page.check("#select-all", timeout=3000)
                page.click("#bulk-approve", timeout=3000)
                page.wait_for_selector("#flash .msg", timeout=5000)
            except sync_api.Error:
                pass
        return False

    wait_for(approve_all, timeout=120, what="the campaign to end")
    page.wait_for_selector("#state:has-text('completed')", timeout=30000)
    page.fill("#journal-filter input[name=kind]", "operator_action")
    page.click("#journal-filter button")
    page.wait_for_selector("#journal-table td:has-text('by web:alice@127.0.0.1')", timeout=15000)
    wait_for(lambda: page.locator("#journal-table tr.ev-state").count() == 0, timeout=15, what="the kind filter")
    assert page.locator("#journal-table tr.ev-operator_action").count() >= 4
    page.screenshot(path=str(shots / "4-completed.png"), full_page=True)
    assert page.evaluate("window.__same_page === true")

    run.communicate(timeout=60)
    assert run.returncode == 0
    store = Store.open(db)
    exps = {e.id: e for e in store.experiments()}
    assert exps[first[0]].status == "completed"
    assert sum(e.status == "completed" for e in exps.values()) == 4
    actions = [e["data"] for e in store.events(kind="operator_action")]
    assert any(a["cmd"] == "override" and not a["ok"] and a["actor"] == "web:alice@127.0.0.1" for a in actions)
    assert any(a["cmd"] == "approve" and a["ok"] and a["args"]["id"] == first[0] for a in actions)


def test_the_best_line_of_a_two_objective_campaign_reads_each_best_and_follows_new_results(
        tmp_path: Path, browser, shots: Path) -> None:  # noqa: ANN001
    """The best of each objective with its unit and the Pareto front's size, updated live as a result lands."""
    from labpilot.agent import store as st
    from tests.web.film_results import film_results

    db = film_results(tmp_path / "film.db", {"hardness": "maximize", "roughness": "minimize"})
    serve, url = start_serve(db)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url + "c/film")
        page.wait_for_selector("#live.on", timeout=15000)
        best = page.locator("#best")
        assert best.inner_text() == ("best of each objective: hardness (GPa) = 12.5 (maximize, experiment 2) · "
                                     "roughness (nm) = 1.25 (minimize, experiment 3) · Pareto front 3 points")
        page.locator("#status").screenshot(path=str(shots / "best-two-objectives.png"))
        page.evaluate("window.__same_page = true")
        # A sixth film beats every other on both: it alone is the front, and the page says so without a reload.
        store = Store.open(db)
        eid = store.add_experiment({"power_w": 250.0, "pressure_pa": 0.2, "temperature_c": 400.0}, st.MEASURING,
                                   "planner", planner="random")
        cid = f"{store.campaign()['uid']}-e{eid}-simulation"
        store.command_sent(cid, eid, "simulation", "measure")
        store.measurement_done(cid, eid, "simulation", {"hardness": 13.0, "roughness": 0.5}, {})
        store.update_experiment(eid, status=st.COMPLETED, event="completed")
        store.close()
        page.wait_for_selector("#best:has-text('Pareto front 1 point')", timeout=30000)
        assert best.inner_text() == (f"best of each objective: hardness (GPa) = 13 (maximize, experiment {eid}) · "
                                     f"roughness (nm) = 0.5 (minimize, experiment {eid}) · Pareto front 1 point")
        assert page.evaluate("window.__same_page === true")
        page.screenshot(path=str(shots / "best-two-objectives-live.png"), full_page=True)
    finally:
        serve.terminate()
        serve.communicate(timeout=60)
