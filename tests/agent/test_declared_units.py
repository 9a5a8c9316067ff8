"""Units an instrument declares (a generic one in its options) label every view of the campaign.

A real SQLite campaign from ``campaigns/simulation_loop.toml``, whose ``command``
measurer declares ``hardness = "GPa"`` (a quantity the shared units table does
not know) and here also a dimensionless ``"1"`` scalar and two arrays. The
report, the dashboard (Starlette's test client on the real app), ``labpilot
queue``, ``labpilot status`` and the array export must all say
``hardness (GPa)``, the same label the plots use.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from labpilot.agent import store as st
from labpilot.agent.campaign import load_campaign
from labpilot.agent.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    camp = load_campaign(REPO / "campaigns" / "simulation_loop.toml")
    data = camp.model_dump(mode="json")
    data["mode"] = "supervised"
    sim = next(i for i in data["instruments"] if i["name"] == "simulation")
    sim["options"]["scalars"] = {"hardness": "GPa", "roughness": "nm", "poisson_ratio": "1"}
    sim["options"]["arrays"] = {"depth": "nm", "load": "mN"}
    path = tmp_path / "units.db"
    s = Store.create(path, "simulation-loop", data, "")
    for i, power in enumerate((100.0, 200.0)):
        eid = s.add_experiment({"power_w": power, "pressure_pa": 0.5, "temperature_c": 300.0}, st.APPROVED, "initial")
        s.command_sent(f"m{i}", eid, "simulation", "measure")
        s.measurement_done(f"m{i}", eid, "simulation", {"hardness": 12.5 + i, "poisson_ratio": 0.3},
                           {"depth": np.linspace(0, 50, 5), "load": np.linspace(0, 2, 5)})
        s.update_experiment(eid, status=st.COMPLETED)
    s.add_experiment({"power_w": 250.0, "pressure_pa": 1.0, "temperature_c": 400.0}, st.AWAITING_APPROVAL, "planner",
                     planner="bo", reason="bo: qlognei on 2 results", predicted={"hardness": (14.0, 0.5)})
    s.set_state("awaiting_approval")
    s.close()
    return path


def test_campaign_units_take_the_declared_unit_over_the_shared_table(db: Path) -> None:
    from labpilot.agent.units import campaign_units, label

    units = campaign_units(Store.open(db).campaign()["config"])
    assert units["hardness"] == "GPa" and units["simulation.depth"] == "nm" and units["defects"] == "count"
    assert label("hardness", units) == "hardness (GPa)" and label("hardness") == "hardness"
    assert label("poisson_ratio", units) == "poisson_ratio (dimensionless)"
    assert label("magnetization", units) == "magnetization (emu/cm³)"  # the table for what nobody declares


def test_report_shows_the_declared_units(db: Path) -> None:
    from labpilot.agent.morning_report import build_report

    html = build_report(Store.open(db))
    assert "hardness (GPa)" in html and "poisson_ratio (dimensionless)" in html


def test_dashboard_pages_show_the_declared_units(db: Path) -> None:
    from labpilot.agent.web.app import create_app
    from labpilot.agent.web.catalog import Catalog
    from labpilot.agent.web.security import Guard

    c = TestClient(create_app(Catalog([str(db)]), Guard(token=None, loopback_only=True)),
                   base_url="http://127.0.0.1:8787")
    page = c.get("/c/units").text
    assert "hardness (GPa): 14 ± 0.5" in page  # the prediction in the queue
    assert "hardness (GPa)=13.5" in page and "poisson_ratio (dimensionless)=0.3" in page  # the experiments
    journal = c.get("/c/units/journal").text
    assert "simulation: hardness (GPa)=12.5" in journal


def test_queue_status_and_array_export_show_the_declared_units(db: Path, tmp_path: Path) -> None:
    from labpilot.agent.arrays_export import export_arrays_csv, export_arrays_parquet
    from labpilot.agent.cli.operator_commands import format_queue
    from labpilot.agent.operator import OperatorDesk
    from labpilot.agent.report import campaign_status, format_status

    store = Store.open(db)
    desk = OperatorDesk(db)
    assert "predicted hardness (GPa) 14 ± 0.5" in format_queue(desk.queue())
    assert "best hardness = 13.5 GPa (experiment 2" in format_status(campaign_status(store))
    written = export_arrays_csv(store, tmp_path / "arr")
    with written[0].open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["depth (nm)", "load (mN)"]
    import pyarrow.parquet as pq

    export_arrays_parquet(store, tmp_path / "a.parquet")
    rows = pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert {(r["name"], r["unit"]) for r in rows} == {("depth", "nm"), ("load", "mN")}
