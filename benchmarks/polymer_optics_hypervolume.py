"""Hypervolume growth on the polymer-optics pool: ``mobo`` (EHVI, top-10 batches) against random.

What it runs: the campaign's own space and planner, built as ``labpilot run``
builds them (``load_campaign``, ``campaign.space()`` over the pool file,
``make_planner`` with the campaign's options, ``initial_design``), without the
agent, its journal or subprocesses: each experiment is the campaign's ``md``
stage called in-process (``simulate.md``: the same noise, the same 5 %
failures, seeded by the command-id rule), so only the planner differs
between the arms. Per seed, both arms start from the same 10 space-filling
polymers (the campaign's initial design, seeded by the seed); then ``mobo``
proposes batches of 10 by EHVI from the whole pool (the 175 ``d_*``
descriptors as its features, failed runs modelled as the worst observed),
and labpilot's ``random`` planner draws 10 unused rows at a time. (A real dry
run of the campaign does the same plus subprocesses and the journal; see
the README for one.)

Measured: the hypervolume dominated by the *true* (noise-free) n_d and V_d
of the polymers measured so far, from the reference point ``REF`` (n_d = 1.55,
V_d = 30: what an optical designer counts as useful; 44 % of the pool beats it
in both, and 50 random polymers already reach about half the best), as a
fraction of the pool's own best hypervolume, against the number of
experiments. Both quantities are dimensionless (n_d and V_d are), so the
hypervolume is in "1" (units of n_d x V_d).

    python benchmarks/polymer_optics_hypervolume.py [--seeds 10] [--experiments 100]
    python benchmarks/polymer_optics_hypervolume.py --dry-runs 2 --experiments 50

Writes ``benchmarks/results/polymer_optics_hypervolume.json`` and ``.png``;
``--dry-runs`` checks the same comparison with real dry runs of the
campaign through the CLI (``..._dry_runs.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "campaigns" / "polymer_optics"))
import simulate  # noqa: E402  (the campaign's simulation, standard library only)

RESULTS = ROOT / "benchmarks" / "results"
REF = (1.55, 30.0)  # n_d, V_d: the reference point (both maximized): what an optical designer counts
BATCH, INITIAL = 10, 10  # as in the campaign file (checked in main)
FAIL_RATE = 0.05  # the campaign's md --fail-rate


CAMPAIGN = ROOT / "campaigns" / "polymer_optics.toml"


def load() -> tuple[Any, list[str], int]:
    """The campaign (its pool, planner and options, as ``labpilot run`` builds them), ids, descriptor count."""
    from labpilot.agent.campaign import load_campaign

    campaign = load_campaign(CAMPAIGN)
    table = campaign.space().candidates
    return campaign, table.ids.to_pylist(), int(table.features.shape[1])


def hypervolume(points: np.ndarray, ref: tuple[float, float] = REF) -> float:
    """Area dominated by ``points`` (n, 2), both maximized, above ``ref``."""
    p = points[(points[:, 0] > ref[0]) & (points[:, 1] > ref[1])]
    if len(p) == 0:
        return 0.0
    p = p[np.argsort(-p[:, 0])]  # by n_d descending; sweep keeps the running best V_d
    area, best_v = 0.0, ref[1]
    for n, v in p:
        if v > best_v:
            area += (n - ref[0]) * (v - best_v)
            best_v = v
    return float(area)


def run_arm(arm: str, seed: int, campaign: Any, truth: dict[str, tuple[float, float]], budget: int,
            log: Callable[[str], None]) -> list[float]:
    """Hypervolume after each experiment for one arm (``mobo`` as configured, or ``random``) and seed."""
    from labpilot.planners.base import COMPLETED, FAILED, Trial, make_planner
    from labpilot.planners.random_planner import initial_design

    space, objectives = campaign.space(), campaign.planner_objectives()
    options = campaign.planner.options if arm == campaign.planner.name else {}
    planner = make_planner(arm, space, objectives, seed=seed, options=options)
    queue = [dict(p) for p in initial_design(space, campaign.initial_design, seed, taken=[])]  # shared by both arms
    trials: list[Trial] = []
    measured: list[tuple[float, float]] = []  # true (n_d, V_d) of the polymers measured successfully
    curve: list[float] = []
    plan_s = 0.0
    while len(trials) < budget:
        if not queue:
            t0 = time.perf_counter()
            queue = [dict(p.params) for p in planner.propose(trials, min(campaign.planner.batch_size,
                                                                          budget - len(trials)))]
            plan_s += time.perf_counter() - t0
        params = queue.pop(0)
        pid = params["polymer_id"]
        assert all(t.params["polymer_id"] != pid for t in trials), f"{arm} proposed {pid} twice"
        cid = f"bench-{seed}-e{len(trials) + 1}"
        try:
            out = simulate.md({"command_id": cid, "params": params}, seed, FAIL_RATE)
            trials.append(Trial(params, COMPLETED, out))
            measured.append(truth[pid])
        except RuntimeError:
            trials.append(Trial(params, FAILED))
        curve.append(hypervolume(np.array(measured)) if measured else 0.0)
        if len(trials) % 20 == 0:
            log(f"  {arm:6s} seed {seed}: {len(trials)}/{budget} experiments, hypervolume {curve[-1]:.3f}, "
                f"planning {plan_s:.0f}s")
    return curve


def dry_run_arm(arm: str, seed: int, budget: int, work: Path, truth: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """One real dry run of the campaign through the CLI (``arm``: its planner, or ``random``), instant
    simulations; the hypervolume after each finished experiment, from the journal."""
    import subprocess

    from labpilot.agent.charts import finished
    from labpilot.agent.store import COMPLETED, Store

    here = ROOT / "campaigns" / "polymer_optics"
    text = CAMPAIGN.read_text()
    for old, new in (('"polymer_optics/simulate.py"', json.dumps(str(here / "simulate.py"))),
                     ('"polymer_optics/pool.parquet"', json.dumps(str(here / "pool.parquet"))),
                     ('"polymer_runs/{command_id}.json"', json.dumps(str(work / "runs" / "{command_id}.json"))),
                     ("\nseed = 11\n", f"\nseed = {seed}\n")):
        assert old in text, old
        text = text.replace(old, new)
    if arm == "random":
        text = text.replace('name = "mobo"', 'name = "random"').replace("[planner.options]\nref_point", "# ref_point")
    work.mkdir(parents=True, exist_ok=True)
    (work / "campaign.toml").write_text(text)
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "run", str(work / "campaign.toml"), "--dry-run",
                          "--db", str(work / "run.db"), "--max-experiments", str(budget), "--quiet"], cwd=work,
                         env={**os.environ, "POLYMER_SIM_TIME_SCALE": "0"}, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"dry run {arm} seed {seed} failed: {out.stderr[-2000:]}")
    done = finished(Store.open(work / "run.db").experiments())
    curve, measured = [], []
    for e in done:
        if e.status == COMPLETED:
            measured.append(truth[e.params["polymer_id"]])
        curve.append(hypervolume(np.array(measured)) if measured else 0.0)
    return {"curve": curve, "wall_s": time.time() - t0, "failed": sum(e.status != COMPLETED for e in done)}


def dry_runs(seeds: int, budget: int, out: Path) -> int:
    """Real dry runs of the campaign (mobo and random, ``seeds`` each): the cross-check of the planner-API runs."""
    import tempfile

    t = simulate.read_truth()
    best = hypervolume(np.array(list(t.values())))
    results: dict[str, list[dict[str, Any]]] = {"mobo": [], "random": []}
    started, load0 = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(seeds):
            for arm in ("random", "mobo"):
                r = dry_run_arm(arm, 100 + s, budget, Path(tmp) / f"{arm}-{s}", t)
                r["curve"] = [v / best for v in r["curve"]]
                results[arm].append(r)
                print(f"[{time.time() - started:6.0f}s] dry run {arm} seed {100 + s}: {budget} experiments in "
                      f"{r['wall_s']:.0f}s, hypervolume fraction {r['curve'][-1]:.3f}", flush=True)
    summary = {arm: {"final_mean": float(np.mean([r["curve"][-1] for r in rs])),
                     "final": [r["curve"][-1] for r in rs]} for arm, rs in results.items()}
    out.write_text(json.dumps({
        "what": "real dry runs of campaigns/polymer_optics.toml through `labpilot run --dry-run` (simulation "
                "subprocesses, journal, 10 in parallel; POLYMER_SIM_TIME_SCALE=0), planner mobo vs random; "
                "hypervolume fraction of the true n_d, V_d of the polymers measured, in the order finished",
        "reference_point": {"refractive_index": REF[0], "abbe_number": REF[1]}, "experiments": budget,
        "summary": summary, "runs": results,
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(), "load_at_start": load0,
                    "load_at_end": os.getloadavg()}}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--experiments", type=int, default=100)
    p.add_argument("--out", type=Path, default=RESULTS / "polymer_optics_hypervolume.json")
    p.add_argument("--dry-runs", type=int, default=0, metavar="SEEDS",
                   help="instead: real dry runs of the campaign through the CLI, SEEDS per arm")
    args = p.parse_args(argv)
    if args.dry_runs:
        return dry_runs(args.dry_runs, args.experiments, args.out.with_name(args.out.stem + "_dry_runs.json"))
    campaign, ids, n_desc = load()
    t = simulate.read_truth()
    truth = {i: t[i] for i in ids}
    best = hypervolume(np.array(list(truth.values())))
    started = time.time()
    load0 = os.getloadavg()

    def log(msg: str) -> None:
        print(f"[{time.time() - started:6.0f}s] {msg}", flush=True)

    log(f"pool {len(ids)} x {n_desc} descriptors; pool hypervolume {best:.3f} from ref {REF}; "
        f"{args.seeds} seeds x {args.experiments} experiments; load {load0}")
    assert campaign.planner.batch_size == BATCH and campaign.initial_design == INITIAL, "campaign changed"
    assert list(campaign.planner.options["ref_point"]) == list(REF), "campaign's ref_point changed"
    curves: dict[str, list[list[float]]] = {"mobo": [], "random": []}
    times: dict[str, float] = {"mobo": 0.0, "random": 0.0}
    for s in range(args.seeds):
        for arm in ("random", "mobo"):
            t0 = time.time()
            c = run_arm(arm, s, campaign, truth, args.experiments, log)
            times[arm] += time.time() - t0
            curves[arm].append([v / best for v in c])
        done = s + 1
        eta = (time.time() - started) / done * (args.seeds - done)
        log(f"seed {s}: final fraction mobo {curves['mobo'][-1][-1]:.3f}, random {curves['random'][-1][-1]:.3f}; "
            f"ETA {eta:.0f}s")
        write(args, curves, times, best, load0, len(ids), n_desc, done)
    return 0


def write(args: argparse.Namespace, curves: dict[str, list[list[float]]], times: dict[str, float], best: float,
          load0: tuple[float, ...], rows: int, cols: int, seeds_done: int) -> None:
    """Results JSON and the plot (after every seed, so a long run leaves something behind)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.arange(1, args.experiments + 1)
    summary = {}
    for arm, cs in curves.items():
        a = np.array(cs)
        summary[arm] = {f"at_{k}": {"mean": float(a[:, k - 1].mean()), "min": float(a[:, k - 1].min()),
                                    "max": float(a[:, k - 1].max())} for k in sorted({min(20, args.experiments), min(50, args.experiments), args.experiments})}
    first = {arm: [int(np.argmax(np.array(c) >= 0.9)) + 1 if max(c) >= 0.9 else None for c in cs]
             for arm, cs in curves.items()}
    out = {
        "what": "hypervolume fraction (of the pool's best) of the true n_d, V_d of the polymers measured, "
                "against experiments; mobo EHVI top-10 batches vs random, same initial 10 per seed",
        "how": "the campaign's own space and planner (load_campaign, make_planner, initial_design: what "
               "labpilot run builds), without the agent; experiments = simulate.md in-process (noise, 5% "
               "failures); hypervolume on noise-free values of the measured polymers",
        "reference_point": {"refractive_index": REF[0], "abbe_number": REF[1]},
        "pool_hypervolume": best, "pool": {"rows": rows, "descriptors": cols},
        "seeds": seeds_done, "experiments": args.experiments, "batch": BATCH, "initial": INITIAL,
        "summary": summary, "experiments_to_90pct": first, "wall_s": times,
        "curves": curves,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cores": os.cpu_count(), "load_at_start": load0, "load_at_end": os.getloadavg()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, color in (("mobo", "#1f77b4"), ("random", "#7f7f7f")):
        a = np.array(curves[arm])
        ax.plot(n, a.mean(axis=0), color=color, lw=2, label=f"{arm} (mean of {len(a)} seeds)")
        ax.fill_between(n, a.min(axis=0), a.max(axis=0), color=color, alpha=0.2, label=f"{arm}: min-max")
    ax.axvline(INITIAL + 0.5, color="#999", ls=":", lw=1)
    ax.set_xlabel("experiments (simulations finished, failed ones included)")
    ax.set_ylabel("hypervolume / pool's best (fraction, 1)")
    ax.set_title(f"polymer optics: maximize n_d and V_d over {rows} polymers x {cols} descriptors\n"
                 f"reference point n_d={REF[0]}, V_d={REF[1]} (both dimensionless); batches of {BATCH}", fontsize=9)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
