"""Measured arrays (XRD patterns, DSC curves...) out of the store: CSV per experiment, or Parquet.

CSV: one file per experiment and instrument, ``exp0007_xrd.csv``, one column
per array with its unit in the header (``two_theta (° 2θ),counts``).
Parquet (pyarrow): one row per array, columns ``experiment``, ``instrument``,
``name``, ``unit``, ``values`` (a list of float64); units also in the schema
metadata.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from labpilot.agent.store import Store
from labpilot.agent.units import AXES, campaign_units, label, unit


def _by_instrument(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        inst, _, name = key.partition(".")
        out.setdefault(inst, {})[name] = np.asarray(arr).reshape(-1)
    # axes first: two_theta before counts
    return {i: dict(sorted(d.items(), key=lambda kv: (kv[0] not in AXES, kv[0]))) for i, d in out.items()}


def export_arrays_csv(store: Store, folder: Path) -> list[Path]:
    """Write one CSV per experiment and instrument; return the files written."""
    units = campaign_units(store.campaign()["config"])
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for e in store.experiments():
        for inst, named in _by_instrument(store.arrays(e.id)).items():
            path = folder / f"exp{e.id:04d}_{inst}.csv"
            n = max(len(a) for a in named.values())
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow([label(f"{inst}.{k}", units).partition(".")[2] for k in named])  # the unit it declared
                for i in range(n):
                    w.writerow([repr(float(a[i])) if i < len(a) else "" for a in named.values()])
            written.append(path)
    return written


def export_arrays_parquet(store: Store, out: Path) -> int:
    """Write every array to one Parquet file; return the number of arrays."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    units = campaign_units(store.campaign()["config"])
    rows: dict[str, list] = {"experiment": [], "instrument": [], "name": [], "unit": [], "values": []}
    for e in store.experiments():
        for inst, named in _by_instrument(store.arrays(e.id)).items():
            for name, arr in named.items():
                rows["experiment"].append(e.id)
                rows["instrument"].append(inst)
                rows["name"].append(name)
                rows["unit"].append(unit(f"{inst}.{name}", units))
                rows["values"].append(arr.astype(float).tolist())
    schema = pa.schema([("experiment", pa.int64()), ("instrument", pa.string()), ("name", pa.string()),
                        ("unit", pa.string()), ("values", pa.list_(pa.float64()))])
    declared = {f"{i}.{n}": u for i, n, u in zip(rows["instrument"], rows["name"], rows["unit"])}
    table = pa.table(rows, schema=schema).replace_schema_metadata({"labpilot.units": json.dumps(declared)})
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    return len(rows["name"])
