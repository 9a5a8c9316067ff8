"""The morning after: report, events, array export and plot fixes, on a real finished dry run."""

from __future__ import annotations

import base64
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labpilot.agent.cli import main
from labpilot.agent.formatting import fmt_params, fmt_value
from labpilot.agent.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def polymer_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 3-experiment polymer dry run: robot, XRD, DSC and tensile tester, all simulated."""
    db = tmp_path_factory.mktemp("records") / "poly.db"
    r = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "run", str(REPO / "campaigns/polymer_properties.toml"),
                        "--dry-run", "--db", str(db), "--max-experiments", "3", "--speed", "5000", "--quiet"],
                       cwd=REPO, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    return db


def test_report_is_one_self_contained_file_saying_what_happened(polymer_db: Path, tmp_path: Path) -> None:
    store = Store.open(polymer_db)
    store.log_event("operator_action", None, cmd="pause", args={"now": False}, actor="cli:night@lab", ok=False,
                    error="campaign is completed; nothing to pause")
    store.close()
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(polymer_db), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    # self-contained: no external fetches of any kind
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "<script" not in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 4
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    # what a scientist looks for
    for text in ("polymer-properties", "completed", "impact_strength (kJ/m²)", "Best results", "no faults",
                 "cli:night@lab", "refused: campaign is completed", "Instrument use", "tensile", "dsc"):
        assert text in html, text


def test_events_filters_by_kind_time_and_experiment(polymer_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--db", str(polymer_db), "--kind", "measured", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and {r["kind"] for r in rows} == {"measured"}
    assert {r["data"]["instrument"] for r in rows} == {"xrd", "dsc", "tensile"}
    assert main(["events", "--db", str(polymer_db), "--experiment", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all("exp 2" in line for line in lines)
    assert main(["events", "--db", str(polymer_db), "--since", "2999-01-01T00:00"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["events", "--db", str(polymer_db), "--since", "1h", "--kind", "state"]) == 0
    assert "idle → planning" in capsys.readouterr().out
    assert main(["events", "--db", str(polymer_db), "--since", "yesterday"]) == 2
    assert "--since 'yesterday'" in capsys.readouterr().err


def test_export_writes_each_pattern_with_units(polymer_db: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    assert main(["export", "--db", str(polymer_db), "--arrays", str(tmp_path / "arr"),
                 "--parquet", str(tmp_path / "a.parquet"), "--csv", str(tmp_path / "e.csv")]) == 0
    files = sorted(p.name for p in (tmp_path / "arr").iterdir())
    assert files == [f"exp000{i}_{k}.csv" for i in (1, 2, 3) for k in ("dsc", "xrd")]
    store = Store.open(polymer_db)
    with (tmp_path / "arr" / "exp0002_dsc.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["temperature (°C)", "heat_flow (W/g)"]
    arrays = store.arrays(2, "dsc")
    assert len(rows) - 1 == len(arrays["temperature"])
    assert float(rows[5][1]) == pytest.approx(float(arrays["heat_flow"][4]))
    with (tmp_path / "arr" / "exp0003_xrd.csv").open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["two_theta (° 2θ)", "counts"]
    table = pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert len(table) == 12
    xrd = next(r for r in table if r["experiment"] == 1 and r["name"] == "counts")
    assert xrd["unit"] == "counts" and xrd["values"] == pytest.approx(store.arrays(1, "xrd")["counts"].tolist())
    assert main(["export", "--db", str(polymer_db)]) == 2


def test_plot_draws_every_objective_with_units_and_the_dsc_curves(polymer_db: Path, tmp_path: Path) -> None:
    from labpilot.agent import charts

    store = Store.open(polymer_db)
    exps = store.experiments()
    objectives = [{"name": "impact_strength", "direction": "maximize"}, {"name": "tensile_modulus", "direction": "maximize"}]
    fig = charts.objectives_figure(exps, objectives)
    axes = [a for a in fig.axes if a.get_ylabel()]
    assert [a.get_ylabel().split("\n")[0] for a in axes] == ["impact_strength (kJ/m²)", "tensile_modulus (MPa)"]
    ticks = [t for t in axes[-1].get_xticks() if axes[-1].get_xlim()[0] <= t <= axes[-1].get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    pat = charts.patterns_figure([(e, store.arrays(e.id)) for e in exps[:2]], "impact_strength")
    titles = [a.get_title() for a in pat.axes]
    assert titles == ["dsc: heat_flow", "xrd: counts"] or sorted(titles) == ["dsc: heat_flow", "xrd: counts"]
    dsc = next(a for a in pat.axes if a.get_title() == "dsc: heat_flow")
    assert dsc.get_xlabel() == "temperature (°C)" and len(dsc.get_lines()) == 2
    # the legend sits below the axes, never over a trace
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(pat).get_renderer()
    assert dsc.get_legend().get_window_extent(renderer).y1 <= dsc.get_window_extent(renderer).y0
    out = tmp_path / "p.png"
    assert main(["plot", "--db", str(polymer_db), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_numerically_zero_values_print_as_zero() -> None:
    assert fmt_value(3.354e-16) == "0" and fmt_value(-2e-12) == "0"
    assert fmt_value(0.7517) == "0.7517" and fmt_value(1995.1) == "1995" and fmt_value("Fe") == "Fe"
    assert fmt_value(1e-3) == "0.001"
    assert fmt_params({"Fe": 0.75, "Ni": 1.433e-11, "Pt": 3.299e-09, "Ir": 0.0026}) == "Fe=0.75, Ni=0, Pt=0, Ir=0.0026"
