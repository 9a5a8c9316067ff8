"""The public experimental tables the planner-vs-peer benchmarks replay, chosen by a rule fixed before any result.

Sources: ``shared/data`` (the OER plate, the Fe-Ga-Pd library) and the
datasets shipped inside the ``olymp`` package (Olympus 0.0.1b0, MIT licence,
read as files, never imported: ``olympus/datasets/dataset_*/data.csv`` holds
the parameters then the measurement, no header; ``config.json`` names them
and gives the goal).

Rule (fixed up front, not chosen by results):

* a table is used when all its inputs are numeric and it has at least 100
  distinct input rows after merging duplicate inputs (their measurements are
  averaged, ``planners.backtest.load_table``'s rule), so that the top 5 % holds
  at least 5 rows;
* budget: 50 experiments for tables of at least 1,000 distinct rows, 30 for
  the others.

By this rule Olympus' benzylation (73 rows) and SnAr (66) are left out; all
others of the package are numeric and large enough.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.data import oer_plate, oer_plate_csv, shared_data

MIN_ROWS = 100
LARGE = 1000


def budget_for(n_rows: int) -> int:
    """50 experiments for tables of at least 1,000 distinct rows, else 30."""
    return 50 if n_rows >= LARGE else 30


def olympus_root() -> Path | None:
    """``olympus/datasets`` inside the installed ``olymp`` distribution, or None."""
    try:
        import importlib.metadata as md

        root = Path(str(md.distribution("olymp").locate_file("olympus/datasets")))
    except Exception:  # noqa: BLE001 - not installed: those tables are skipped
        return None
    return root if root.is_dir() else None


def _olympus_tables() -> dict:
    from labpilot.planners.backtest import load_table

    root = olympus_root()
    out = {}
    if root is None:
        return out
    for d in sorted(root.glob("dataset_*")):
        data, config = d / "data.csv", d / "config.json"
        if not (data.is_file() and config.is_file()):
            continue
        cfg = json.loads(config.read_text())
        names = [p["name"] for p in cfg["parameters"]]
        meas = cfg["measurements"][0]["name"]
        try:
            out["olympus_" + d.name.removeprefix("dataset_")] = load_table(
                data, meas, cfg.get("default_goal", "minimize"), header=False, columns=names + [meas])
        except Exception:  # noqa: BLE001 - text (categorical) cells etc.: the numeric rule decides below
            continue
    return out


def _shared_tables() -> dict:
    from labpilot.planners.backtest import BacktestTable
    from labpilot.planners.space import Objective

    data = shared_data()
    out = {}
    if oer_plate_csv().is_file():
        out["oer_plate"] = oer_plate()
    fgp = data / "fe_ga_pd"
    if fgp.is_dir():
        comp = np.loadtxt(fgp / "FeGaPd_CMP.txt", skiprows=1)
        mag = np.loadtxt(fgp / "FeGaPd_Mag.txt", delimiter=",")[:, 0]
        uniq, inv = np.unique(comp, axis=0, return_inverse=True)
        inv = inv.ravel()
        y = np.bincount(inv, weights=mag) / np.bincount(inv)
        out["fe_ga_pd_magnetization"] = BacktestTable(str(fgp / "FeGaPd_Mag.txt"), ["Fe", "Ga", "Pd"], uniq, y,
                                                      Objective("magnetization", "maximize"), len(mag))
    return out


def all_tables(only: list[str] | None = None) -> dict:
    """name -> (BacktestTable, budget) for every table that passes the rule (``only``: these names)."""
    found = {**_shared_tables(), **_olympus_tables()}
    out = {}
    for name, t in found.items():
        if only and name not in only:
            continue
        if t.categorical or len(t.y) < MIN_ROWS:
            continue
        out[name] = (t, budget_for(len(t.y)))
    return out


def skipped() -> dict:
    """name -> why, for the tables the rule leaves out (for the results file)."""
    why = {}
    for name, t in {**_shared_tables(), **_olympus_tables()}.items():
        if t.categorical:
            why[name] = "categorical input"
        elif len(t.y) < MIN_ROWS:
            why[name] = f"{len(t.y)} distinct rows < {MIN_ROWS}"
    root = olympus_root()
    if root is not None:
        for d in sorted(root.glob("dataset_*")):
            name = "olympus_" + d.name.removeprefix("dataset_")
            if name not in why and name not in all_tables([name]):
                why[name] = "not readable as a numeric table"
    return why
