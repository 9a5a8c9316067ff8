"""The polymer seed loop's bottleneck: how busy its ten MD slots are, batch by batch.

Dry runs of ``campaigns/polymer_optics.toml`` as shipped (mobo, top-10
batches, ``md`` with ``max_parallel = 10``), with ``[execution] parallel``
at 10 (one batch in flight: the next is planned only once it is done) and at
20 (the next batch is planned, built and queued while the current one runs),
and the sequential loop (``parallel = 1``) as the same-run baseline. Figures
from the journal as in ``benchmarks.batch_busy``: experiments per hour and
the ``md`` instrument's busy fraction (slot time held by a command over
10 slots x the window from the first command to the last).

    nice python -m benchmarks.polymer_busy [--experiments 40] [--parallel 1 10 20] [--time-scale S] [--out STEM]

Writes ``benchmarks/results/STEM.json`` and ``STEM.png`` (default ``polymer_busy``). Planning
(mobo over 10^4 rows, seconds per batch) is the loop's own cost; how much of
the MD slots' time it leaves idle depends on how long a run takes, hence
``--time-scale``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.batch_busy import journal_figures, plot

REPO = Path(__file__).resolve().parents[1]
CAMPAIGN = REPO / "campaigns" / "polymer_optics.toml"
RESULTS = REPO / "benchmarks" / "results"
CAPACITY = 10


def campaign_copy(parallel: int, tmp: Path, time_scale: float | None = None) -> Path:
    """The shipped campaign with ``parallel`` (and the simulations' ``--time-scale``) changed, its pool path absolute."""
    text = CAMPAIGN.read_text()
    if time_scale is not None:
        text, n = re.subn(r'"--time-scale", "[0-9.]+"', f'"--time-scale", "{time_scale}"', text)
        assert n == 2, "the campaign's --time-scale arguments moved"
    text, n = re.subn(r"(?m)^parallel = \d+", f"parallel = {parallel}", text)
    assert n == 1, "the campaign's [execution] parallel line moved"
    text = text.replace('pool = "polymer_optics/pool.parquet"', f'pool = "{CAMPAIGN.parent}/polymer_optics/pool.parquet"')
    text, n = re.subn(r'"polymer_optics/simulate.py"', f'"{CAMPAIGN.parent}/polymer_optics/simulate.py"', text)
    assert n == 2, "the campaign's simulate.py arguments moved"  # the commands run in the copy's folder (tmp)
    out = tmp / f"polymer_parallel{parallel}.toml"
    out.write_text(text)
    return out


def run_one(parallel: int, experiments: int, tmp: Path, time_scale: float | None) -> dict[str, Any]:
    db = tmp / f"parallel{parallel}.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "run", str(campaign_copy(parallel, tmp, time_scale)), "--dry-run",
                    "--db", str(db), "--max-experiments", str(experiments), "--quiet"], cwd=REPO, check=True, env=env)
    return {"parallel": parallel, **journal_figures(db, "md", CAPACITY, time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=40)
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 10, 20])
    ap.add_argument("--time-scale", type=float, default=None,
                    help="real seconds per simulated MD hour (the campaign ships 0.25: runs of 1-3 s, shorter than "
                         "mobo's planning; a real MD run takes hours)")
    ap.add_argument("--out", default="polymer_busy", help="results file stem in benchmarks/results")
    args = ap.parse_args(argv)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
               "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    runs = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for i, parallel in enumerate(args.parallel):
            runs.append(run_one(parallel, args.experiments, Path(tmp), args.time_scale))
            r = runs[-1]
            spent = time.monotonic() - started
            eta = spent / (i + 1) * (len(args.parallel) - i - 1)
            print(f"parallel {parallel}: {r['completed']} completed, {r['experiments_per_hour']:.0f}/h, md busy "
                  f"{100 * r['bottleneck_busy_fraction']:.1f} % (steady state {100 * (r['steady_busy_fraction'] or 0):.1f} %)"
                  f"  (ETA {eta:.0f} s)", flush=True)
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result = {"benchmark": "polymer_busy", "campaign": "campaigns/polymer_optics.toml", "experiments": args.experiments,
              "time_scale_s_per_md_hour": args.time_scale or 0.25,
              "bottleneck": "md (command, max_parallel = 10)", "machine": machine, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    plot(runs, CAPACITY, RESULTS / f"{args.out}.png", bottleneck="md")
    return result


if __name__ == "__main__":
    main()
