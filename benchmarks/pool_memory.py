"""Benchmark: memory and time to read a 10^6 x 200 candidate pool (``[space] pool``), and to score it.

A pool of ``--rows`` candidates with ``--cols`` float descriptor columns, an id
column and one parameter column is written as CSV and as Parquet. Each
measurement runs in a fresh child process (``--child``), so its peak resident
set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own; the
figure reported is the peak minus the RSS after imports, i.e. what reading
(or scoring) added. ``bytes_per_cell`` divides that by rows x descriptor
columns (float32 storage is 4 bytes).

* **pyarrow reader** (``planners.pool_table.read_pool``, what campaigns use):
  CSV and Parquet at full size.
* **baseline, same run**: the ``csv``-module reader (``planners.pool.read_table``,
  every cell a Python string, what ``load_pool`` and backtest tables use) on
  the first ``--baseline-rows`` rows, next to the pyarrow reader on the same
  small file.
* **scoring**: ``bo`` proposing one row of the Parquet pool after 30 results
  (``make_planner`` over the pool table: float32 features scored in chunks);
  the peak is reset after loading (``/proc/self/clear_refs``), so the figure
  is what proposing added (a float64 copy of the pool would add 1.6 GB).

* **one pass** (``--csv-one-pass 20000 100000``): the CSV reader now reads the
  file once (it used to count lines first); old (``--old-ref``) and new run
  alternately on the same files, with the SHA-256 that identifies a pool on a
  resume (``planners.pool_identity``) timed on each file and on a 2 GB one.

Run:  python -m benchmarks.pool_memory [--rows 1000000] [--cols 200] [--baseline-rows 20000]
      python -m benchmarks.pool_memory --csv-one-pass 20000 100000
Writes benchmarks/results/pool_memory.json (machine, cores, load average per figure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"


def _rss_mb() -> float:
    """Current resident set size (MB), from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _peak_mb() -> float:
    """Peak resident set size (MB) since start or the last ``_reset_peak`` (VmHWM; else ru_maxrss)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1e3
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KB on Linux


def _reset_peak() -> bool:
    """Restart the peak RSS count from the current RSS (Linux: ``5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def write_pool(folder: Path, rows: int, cols: int, chunk: int = 50_000) -> dict[str, Path]:
    """The pool as CSV and Parquet, written chunk by chunk (float32 descriptors in [0, 1))."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = ["mol_id", "x"] + [f"d_{j:03d}" for j in range(cols)]
    csv_path, pq_path = folder / "pool.csv", folder / "pool.parquet"
    csv_writer = pq_writer = None
    started = time.perf_counter()
    for s in range(0, rows, chunk):
        n = min(chunk, rows - s)
        desc = rng.random((n, cols), dtype=np.float32)
        arrays = [pa.array([f"m{i}" for i in range(s, s + n)]), pa.array(rng.random(n))] + [
            pa.array(desc[:, j]) for j in range(cols)]
        batch = pa.record_batch(arrays, names=names)
        if csv_writer is None:
            csv_writer = pcsv.CSVWriter(csv_path, batch.schema)
            pq_writer = pq.ParquetWriter(pq_path, batch.schema)
        csv_writer.write_batch(batch)
        pq_writer.write_batch(batch)
        done = s + n
        eta = (time.perf_counter() - started) / done * (rows - done)
        print(f"  writing pool: {done:,}/{rows:,} rows, ETA {eta:.0f} s", flush=True)
    csv_writer.close()
    pq_writer.close()
    return {"csv": csv_path, "parquet": pq_path}


def child(kind: str, path: str, cols: int) -> dict:
    """One measurement in this (fresh) process; printed as JSON."""
    import numpy as np

    from labpilot.planners.pool_table import read_pool
    from labpilot.planners.space import ContinuousParam, Space

    space = Space((ContinuousParam("x", 0, 1),))
    if kind == "score":
        import torch

        torch.set_num_threads(1)
        from labpilot.planners.base import Trial, make_planner
        from labpilot.planners.space import Objective

    import pyarrow.compute  # noqa: F401  (the reader's libraries count as imports, not as the pool)
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if kind == "csv_old":  # the reader as of another commit (``--old-ref``), from the file it was saved to
        import importlib.util

        spec = importlib.util.spec_from_file_location("pool_table_old", os.environ["POOL_TABLE_OLD"])
        old = importlib.util.module_from_spec(spec)
        sys.modules["pool_table_old"] = old  # dataclasses look their module up
        spec.loader.exec_module(old)
        read_pool = old.read_pool  # noqa: F811
    if kind == "sha256":
        from labpilot.planners.pool_identity import file_sha256

        t = time.perf_counter()
        file_sha256(path)
        return {"kind": kind, "sha256_s": round(time.perf_counter() - t, 3),
                "load_avg_1min": round(os.getloadavg()[0], 2)}
    base = _rss_mb()
    t = time.perf_counter()
    if kind == "csv_module":
        from labpilot.planners.pool import read_table

        table = read_table(path)
        cols_idx = [table.column_index(f"d_{j:03d}") for j in range(cols)]
        feats = np.empty((len(table.rows), cols), dtype=np.float32)
        for k, c in enumerate(cols_idx):
            feats[:, k] = table.numeric(c)
        n = len(table.rows)
    else:
        table = read_pool(path, "mol_id", space, ["d_*"])
        feats, n = table.features, len(table)
    load_s = time.perf_counter() - t
    result = {"kind": kind, "rows": n, "cols": int(feats.shape[1]), "load_s": round(load_s, 2),
              "rss_after_imports_mb": round(base, 1), "peak_rss_mb": round(_peak_mb(), 1),
              "load_added_peak_mb": round(_peak_mb() - base, 1),
              "bytes_per_cell": round((_peak_mb() - base) * 1e6 / (n * feats.shape[1]), 2),
              "features_dtype": str(feats.dtype), "load_avg_1min": round(os.getloadavg()[0], 2)}
    if kind == "score":
        pool_space = Space(space.params, candidates=table)
        rng = np.random.default_rng(1)
        picks = rng.choice(n, 30, replace=False)
        w = rng.standard_normal(feats.shape[1])
        history = [Trial(table.point(i), "completed", {"y": float(feats[i] @ w)}) for i in picks]
        planner = make_planner("bo", pool_space, [Objective("y")], seed=0)
        reset = _reset_peak()
        before = _rss_mb()
        t = time.perf_counter()
        proposal = planner.propose(history, k=1)[0]
        result.update({"propose_s": round(time.perf_counter() - t, 2), "peak_rss_mb": round(_peak_mb(), 1),
                       "propose_added_peak_mb": round(_peak_mb() - before, 1), "peak_reset_before_propose": reset,
                       "float64_copy_would_be_mb": round(n * feats.shape[1] * 8 / 1e6, 1),
                       "proposal": proposal.params, "note": proposal.note,
                       "load_avg_1min_after_propose": round(os.getloadavg()[0], 2)})
    return result


def _run_child(kind: str, path: Path, cols: int, env: dict[str, str] | None = None) -> dict:
    print(f"  measuring {kind} on {path.name} ({path.stat().st_size / 1e6:,.0f} MB) ...", flush=True)
    r = subprocess.run([sys.executable, "-m", "benchmarks.pool_memory", "--child", kind, str(path), "--cols", str(cols)],
                       capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})})
    if r.returncode != 0:
        raise SystemExit(f"child {kind} failed:\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["file_mb"] = round(path.stat().st_size / 1e6, 1)
    print(f"    {json.dumps(out)}", flush=True)
    return out


def _machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "python": platform.python_version(),
            "load_avg_at_end": [round(v, 2) for v in os.getloadavg()]}


def csv_one_pass(sizes: list[int], cols: int, old_ref: str, repeats: int, hash_mb: int) -> dict:
    """The one-pass CSV reader against the two-pass one of ``old_ref`` (same files, same run, alternating),
    and what identifying a pool costs (``planners.pool_identity``: SHA-256 of the file) next to reading it."""
    started = time.perf_counter()
    out: dict = {"old_ref": old_ref, "cols": cols, "repeats": repeats, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="pool_one_pass_") as tmp:
        folder = Path(tmp)
        old_file = folder / "pool_table_old.py"
        old_file.write_text(subprocess.run(["git", "show", f"{old_ref}:planners/pool_table.py"], cwd=REPO,
                                           check=True, capture_output=True, text=True).stdout)
        env = {"POOL_TABLE_OLD": str(old_file)}
        for k, rows in enumerate(sizes):
            print(f"size {k + 1}/{len(sizes)}: {rows:,} rows x {cols} columns "
                  f"(elapsed {time.perf_counter() - started:.0f} s)", flush=True)
            (folder / str(rows)).mkdir()
            csv_path = write_pool(folder / str(rows), rows, cols)["csv"]
            runs: dict[str, list[dict]] = {"two_pass_old": [], "one_pass_new": [], "sha256": []}
            for _ in range(repeats):
                runs["two_pass_old"].append(_run_child("csv_old", csv_path, cols, env))
                runs["one_pass_new"].append(_run_child("csv", csv_path, cols))
                runs["sha256"].append(_run_child("sha256", csv_path, cols))
            summary = {name: {"load_added_peak_mb": [r["load_added_peak_mb"] for r in rs],
                              "load_s": [r["load_s"] for r in rs]} for name, rs in runs.items() if name != "sha256"}
            summary["sha256_s"] = [r["sha256_s"] for r in runs["sha256"]]
            summary["file_mb"] = round(csv_path.stat().st_size / 1e6, 1)
            summary["load_avg_1min"] = [r["load_avg_1min"] for rs in runs.values() for r in rs]
            out["sizes"][str(rows)] = summary
            print(f"    {json.dumps(summary)}", flush=True)
            csv_path.unlink()
        if hash_mb:
            big = folder / "big.bin"
            with open(big, "wb") as f:
                for _ in range(hash_mb):
                    f.write(os.urandom(1 << 20))
            runs = [_run_child("sha256", big, cols) for _ in range(repeats)]
            out["sha256_large_file"] = {"file_mb": round(big.stat().st_size / 1e6, 1),
                                        "sha256_s": [r["sha256_s"] for r in runs],
                                        "load_avg_1min": [r["load_avg_1min"] for r in runs],
                                        "note": "page cache warm (the file was just written), as after a pool read"}
    out["machine"] = _machine()
    out["total_s"] = round(time.perf_counter() - started, 1)
    out["notes"] = ("load_added_peak_mb per fresh child process; at these sizes pyarrow's read-ahead buffers (16 MiB "
                    "blocks decoded in parallel) dominate the peak and vary +-20 MB run to run: compare medians")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=200)
    ap.add_argument("--baseline-rows", type=int, default=20_000)
    ap.add_argument("--no-score", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"))
    ap.add_argument("--out", type=Path, default=OUT / "pool_memory.json")
    ap.add_argument("--csv-one-pass", type=int, nargs="+", metavar="ROWS",
                    help="only compare the one-pass CSV reader with --old-ref's at these row counts (and time "
                         "SHA-256 pool identities); written under the key csv_one_pass of --out, the rest kept")
    ap.add_argument("--old-ref", default="61389f0", help="git commit of the two-pass CSV reader")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--hash-mb", type=int, default=2000, help="also time SHA-256 of a file this large (MB)")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.cols)))
        return
    if args.csv_one_pass:
        result = json.loads(args.out.read_text()) if args.out.is_file() else {"benchmark": "pool_memory"}
        result["csv_one_pass"] = csv_one_pass(args.csv_one_pass, args.cols, args.old_ref, args.repeats, args.hash_mb)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote csv_one_pass into {args.out}")
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pool_memory_") as tmp:
        folder = Path(tmp)
        print(f"baseline: {args.baseline_rows:,} rows x {args.cols} columns", flush=True)
        (folder / "small").mkdir()
        small = write_pool(folder / "small", args.baseline_rows, args.cols)
        baseline = {"csv_module": _run_child("csv_module", small["csv"], args.cols),
                    "pyarrow_csv": _run_child("csv", small["csv"], args.cols)}
        print(f"full size: {args.rows:,} rows x {args.cols} columns", flush=True)
        (folder / "full").mkdir()
        files = write_pool(folder / "full", args.rows, args.cols)
        full = {"csv": _run_child("csv", files["csv"], args.cols),
                "parquet": _run_child("parquet", files["parquet"], args.cols)}
        if not args.no_score:
            full["bo_propose_parquet"] = _run_child("score", files["parquet"], args.cols)
    result = {
        "benchmark": "pool_memory",
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_at_end": [round(v, 2) for v in os.getloadavg()]},
        "rows": args.rows, "descriptor_columns": args.cols, "float32_bytes": args.rows * args.cols * 4,
        "baseline_rows": args.baseline_rows, "baseline": baseline, "full": full,
        "total_s": round(time.perf_counter() - started, 1),
        "notes": "peak RSS figures are per child process, minus its RSS after imports; bytes_per_cell over "
                 "rows x descriptor columns (float32 = 4). The csv-module baseline holds every cell as a str.",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
