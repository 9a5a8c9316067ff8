"""Benchmark (e): labpilot's ``bo`` against BayBE's default recommender, same tables, seeds and protocol.

Protocol (Liang et al., npj Comput. Mater. 7, 188 (2021)): each public table
is the pool; each replay starts from the same 2 random rows for every method
(seeded by repeat), then one recommendation at a time up to the budget; the
top set is the best 5 % of the table's rows; the score is the enhancement
factor at the budget (fraction of the top set found over random's
expectation, budget / rows), mean and standard deviation over repeats.

Methods: ``bo`` (labpilot's defaults), ``bo`` with ``acquisition = "qucb"``
and BayBE's ``Campaign`` with its default recommender (random first, then
its BoTorch recommender with its default GP surrogate and acquisition),
restricted to unmeasured rows. Tables: the OER plate (2,121 catalysts,
minimize overpotential) and the Fe-Ga-Pd library (278 films, maximize the
magnetization proxy), both from ``shared/data``.

Also (``--pools-only`` runs just this part): set-up plus one recommendation on
synthetic pools of 10^4 and 10^5 candidates (6-D, 50 measured rows), BayBE
against labpilot's ``bo``; each configuration runs in a fresh process under a
wall-clock cap (``--pool-cap``), after a warm-up on a 1,000-row pool so that
imports are not counted, and the results file is rewritten after each one.

Needs the ``bench`` extra (``pip install -e .[bench]``).
Run:  python -m benchmarks.bo_vs_baybe [--repeats 5] [--workers 2]
      python -m benchmarks.bo_vs_baybe --pools-only [--pools 10000,100000] [--pool-cap 900]
Writes benchmarks/results/bo_vs_baybe.{json,png} and bo_vs_baybe_pools.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from benchmarks.data import shared_data

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"
INITIAL = 2
METHODS = {"bo": {}, "bo-qucb": {"acquisition": "qucb"}, "baybe": None}


def tables(only: list[str] | None = None) -> dict:
    """name -> (BacktestTable, budget)."""
    from labpilot.planners.backtest import BacktestTable, load_table
    from labpilot.planners.space import Objective

    data = shared_data()
    out = {}
    oer = data / "oer_plate_3496" / "data.csv"
    if oer.is_file():
        cols = ["ni_load", "fe_load", "co_load", "mn_load", "ce_load", "la_load", "overpotential"]
        out["oer_plate"] = (load_table(oer, "overpotential", "minimize", header=False, columns=cols), 50)
    fgp = data / "fe_ga_pd"
    if fgp.is_dir():
        comp = np.loadtxt(fgp / "FeGaPd_CMP.txt", skiprows=1)
        mag = np.loadtxt(fgp / "FeGaPd_Mag.txt", delimiter=",")[:, 0]
        uniq, inv = np.unique(comp, axis=0, return_inverse=True)
        inv = inv.ravel()
        y = np.bincount(inv, weights=mag) / np.bincount(inv)
        out["fe_ga_pd_magnetization"] = (BacktestTable(str(fgp / "FeGaPd_Mag.txt"), ["Fe", "Ga", "Pd"], uniq, y,
                                                       Objective("magnetization", "maximize"), len(mag)), 30)
    return {k: v for k, v in out.items() if not only or k in only}


def initial_rows(n: int, repeat: int, seed: int) -> list[int]:
    """The same initial rows for every method (``planners.backtest``'s rule)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, repeat, 7])
    return [int(i) for i in rng.choice(n, INITIAL, replace=False)]


def replay_baybe(table, budget: int, repeat: int, seed: int) -> tuple[list[int], float]:
    """One BayBE replay: picked row indices and mean seconds per recommendation."""
    import pandas as pd
    from baybe import Campaign
    from baybe.parameters import NumericalDiscreteParameter
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget
    from baybe.utils.random import set_random_seed

    set_random_seed(seed + repeat)
    names = table.inputs
    df = pd.DataFrame(table.x, columns=names)
    params = [NumericalDiscreteParameter(n, values=tuple(sorted(set(df[n].tolist())))) for n in names]
    target = NumericalTarget(table.objective.name, minimize=table.objective.sign < 0)
    campaign = Campaign(SearchSpace.from_dataframe(df, params), target.to_objective(),
                        allow_recommending_already_measured=False)
    lookup = {tuple(np.round(r, 10)): i for i, r in enumerate(table.x.tolist())}
    picked = initial_rows(len(table.y), repeat, seed)

    def measured(rows: list[int]) -> "pd.DataFrame":
        m = df.iloc[rows].copy()
        m[table.objective.name] = table.y[rows]
        return m

    campaign.add_measurements(measured(picked))
    times = []
    while len(picked) < budget:
        t = time.perf_counter()
        rec = campaign.recommend(batch_size=1)
        times.append(time.perf_counter() - t)
        i = lookup[tuple(np.round(rec[names].to_numpy(dtype=float)[0], 10))]
        if i in picked:
            raise RuntimeError(f"BayBE recommended row {i} a second time")
        picked.append(i)
        campaign.add_measurements(measured([i]))
    return picked, float(np.mean(times))


def replay_bo(table, budget: int, repeat: int, seed: int, options: dict) -> tuple[list[int], float]:
    """One labpilot replay (``planners.backtest.simulate``, timed per proposal)."""
    from labpilot.planners.base import COMPLETED, Trial, make_planner

    space = table.space
    lookup = {tuple(r): i for i, r in enumerate(table.x.tolist())}
    picked = initial_rows(len(table.y), repeat, seed)
    planner = make_planner("bo", space, [table.objective], seed=seed + repeat, options=options)
    name = table.objective.name
    history = [Trial(space.to_point(table.x[i]), COMPLETED, {name: float(table.y[i])}) for i in picked]
    times = []
    while len(picked) < budget:
        t = time.perf_counter()
        p = planner.propose(history, 1)[0]
        times.append(time.perf_counter() - t)
        i = lookup[tuple(space.to_row(p.params).tolist())]
        picked.append(i)
        history.append(Trial(p.params, COMPLETED, {name: float(table.y[i])}))
    return picked, float(np.mean(times))


def job(args: tuple[str, str, int, int]) -> dict:
    tname, method, repeat, seed = args
    import torch

    torch.set_num_threads(1)
    table, budget = tables([tname])[tname]
    if method == "baybe":
        picked, per = replay_baybe(table, budget, repeat, seed)
    else:
        picked, per = replay_bo(table, budget, repeat, seed, METHODS[method])
    top = table.top_mask()
    found = np.cumsum(top[picked]) / top.sum()
    return {"table": tname, "method": method, "repeat": repeat, "found": found.tolist(),
            "ef": float(found[-1] / (budget / len(table.y))), "s_per_recommendation": per}


def synthetic_pool(n_pool: int, n_obs: int, dim: int = 6, seed: int = 0, decimals: int = 6):
    """A seeded uniform pool in [0, 1]^dim rounded to ``decimals``, the measured rows and their values."""
    rng = np.random.default_rng([seed, n_pool])
    pool = np.round(rng.uniform(size=(n_pool, dim)), decimals)
    pool = pool[np.sort(np.unique(pool, axis=0, return_index=True)[1])]  # distinct rows, drawn order kept
    idx = rng.choice(n_pool, n_obs, replace=False)
    y = np.sin(3 * pool[idx, 0]) + pool[idx, 1:].sum(1)
    return pool, idx, y


def time_baybe(n_pool: int, n_obs: int, seed: int = 0, decimals: int = 6) -> dict:
    """BayBE: build the search space and campaign from the pool, add the measurements, recommend one (seconds)."""
    import pandas as pd
    from baybe import Campaign
    from baybe.searchspace import SubspaceDiscrete
    from baybe.targets import NumericalTarget
    from baybe.utils.random import set_random_seed

    set_random_seed(seed)
    pool, idx, y = synthetic_pool(n_pool, n_obs, seed=seed, decimals=decimals)
    names = [f"x{i}" for i in range(pool.shape[1])]
    t = time.perf_counter()
    df = pd.DataFrame(pool, columns=names)
    # Parameters inferred from the columns: passing explicit NumericalDiscreteParameter's makes BayBE check
    # every cell against every allowed value in Python (14 s for 300 rows here, quadratic in the pool).
    space = SubspaceDiscrete.from_dataframe(df).to_searchspace()
    campaign = Campaign(space, NumericalTarget("y").to_objective(), allow_recommending_already_measured=False)
    built = time.perf_counter() - t
    m = df.iloc[idx].copy()
    m["y"] = y
    campaign.add_measurements(m)
    setup = time.perf_counter() - t
    campaign.recommend(batch_size=1)
    total = time.perf_counter() - t
    return {"setup_s": setup, "space_and_campaign_s": built, "add_measurements_s": setup - built,
            "recommend_s": total - setup, "total_s": total}


def time_labpilot(n_pool: int, n_obs: int, seed: int = 0, decimals: int = 6) -> dict:
    """labpilot ``bo`` (defaults): build the space and planner, propose k=1 after ``n_obs`` trials (seconds)."""
    from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner

    pool, idx, y = synthetic_pool(n_pool, n_obs, seed=seed, decimals=decimals)
    names = [f"x{i}" for i in range(pool.shape[1])]
    t = time.perf_counter()
    space = Space(tuple(ContinuousParam(n, 0.0, 1.0) for n in names), pool=pool)
    planner = make_planner("bo", space, [Objective("y")], seed=seed)
    history = [Trial(space.to_point(pool[i]), "completed", {"y": float(v)}) for i, v in zip(idx, y)]
    setup = time.perf_counter() - t
    planner.propose(history, 1)
    total = time.perf_counter() - t
    return {"setup_s": setup, "recommend_s": total - setup, "total_s": total}


TIMERS = {"labpilot_bo": time_labpilot, "baybe": time_baybe}


def pool_config(tool: str, n_pool: int, n_obs: int, decimals: int = 6) -> None:
    """Child-process entry: time one (tool, pool size) and print one JSON line (imports are not timed)."""
    import torch

    torch.set_num_threads(1)
    t = time.perf_counter()
    TIMERS[tool](min(n_pool, 1000), n_obs, decimals=decimals)  # warm-up: imports and first-call costs are not the pool's
    warm = time.perf_counter() - t
    out = TIMERS[tool](n_pool, n_obs, decimals=decimals)
    out["warmup_s"] = warm
    print("RESULT " + json.dumps(out), flush=True)


def pool_timings(pools: list[int], n_obs: int, cap_s: float, out: Path, decimals: int = 6) -> dict:
    """Each (pool, tool) in a fresh process under a wall-clock cap; writes ``out`` after every configuration."""
    import subprocess

    configs = [(n, tool) for n in pools for tool in TIMERS]
    result: dict = {
        "protocol": (f"synthetic 6-D pool (uniform, rounded to {decimals} decimals, distinct rows), {n_obs} measured rows, one recommendation; "
                     "each tool in a fresh process after a warm-up on a 1,000-row pool; BayBE: DataFrame -> "
                     "SubspaceDiscrete.from_dataframe(df).to_searchspace() -> Campaign -> add_measurements -> recommend(1) with its "
                     "default recommender; labpilot: Space(pool=...) -> make_planner('bo') -> propose(history, 1)"),
        "observations": n_obs, "decimals": decimals, "cap_s": cap_s, "pools": {},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": 1},
    }
    start = time.perf_counter()
    for k, (n, tool) in enumerate(configs, 1):
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        cmd = [sys.executable, "-m", "benchmarks.bo_vs_baybe", "--pool-config", f"{tool}:{n}:{n_obs}:{decimals}"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap_s, cwd=REPO)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            entry = json.loads(lines[-1][7:]) if lines else {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        except subprocess.TimeoutExpired:
            entry = {"error": f"over the {cap_s:.0f} s cap", "total_s": None}
        entry["wall_s"] = time.perf_counter() - t
        entry["load_average_1min"] = [load0, os.getloadavg()[0]]
        row = result["pools"].setdefault(str(n), {})
        row[tool] = entry
        if all(isinstance(row.get(x, {}).get("total_s"), float) for x in TIMERS):
            row["ratio_baybe_over_labpilot"] = row["baybe"]["total_s"] / row["labpilot_bo"]["total_s"]
        elapsed = time.perf_counter() - start
        total = entry.get("total_s")
        print(f"[{k}/{len(configs)}] pool {n:>7} {tool:<12} "
              + (f"{total:8.2f} s (set-up {entry['setup_s']:.2f}, recommend {entry['recommend_s']:.2f})"
                 if isinstance(total, float) else entry["error"])
              + f"  load {entry['load_average_1min'][1]:.1f}  elapsed {elapsed:.0f} s, "
              f"ETA <= {(len(configs) - k) * cap_s:.0f} s (cap)", flush=True)
        result["wall_s"] = elapsed
        out.write_text(json.dumps(result, indent=1))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--tables", default="")
    ap.add_argument("--pools", default="10000,100000")
    ap.add_argument("--pools-only", action="store_true", help="only the pool timing (no replays)")
    ap.add_argument("--pool-observations", type=int, default=50)
    ap.add_argument("--pool-cap", type=float, default=900.0, help="seconds per (pool, tool) configuration")
    ap.add_argument("--pool-decimals", type=int, default=6,
                    help="round the pool's values (fewer distinct values per column: BayBE validates per value)")
    ap.add_argument("--pool-config", help=argparse.SUPPRESS)  # child process: tool:pool:observations:decimals
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", default="bo_vs_baybe")
    args = ap.parse_args(argv)
    try:
        import baybe  # noqa: F401
    except ImportError:
        print("BayBE is not installed: pip install -e .[bench]", file=sys.stderr)
        return 1
    if args.pool_config:
        tool, n, n_obs, decimals = args.pool_config.split(":")
        pool_config(tool, int(n), int(n_obs), int(decimals))
        return 0
    pools = [int(p) for p in args.pools.split(",") if p]
    if args.pools_only:
        OUT.mkdir(parents=True, exist_ok=True)
        suffix = "" if args.pool_decimals == 6 else f"_{args.pool_decimals}dec"
        res = pool_timings(pools, args.pool_observations, args.pool_cap, OUT / f"{args.out}_pools{suffix}.json",
                           args.pool_decimals)
        for n, row in res["pools"].items():
            print(n, {k: (round(v["total_s"], 2) if isinstance(v, dict) and v.get("total_s") else v)
                      for k, v in row.items()})
        return 0
    found = tables([t for t in args.tables.split(",") if t] or None)
    if not found:
        print(f"no tables under {shared_data()}", file=sys.stderr)
        return 1
    methods = [m for m in args.methods.split(",") if m]
    jobs = [(t, m, r, args.seed) for t in found for r in range(args.repeats) for m in methods]
    start = time.perf_counter()
    rows = []
    with Pool(args.workers) as pool:
        for r in pool.imap_unordered(job, jobs):
            rows.append(r)
            print(f"{r['table']:<24}{r['method']:<9} repeat {r['repeat']}: EF {r['ef']:.2f} "
                  f"({r['s_per_recommendation']:.2f} s/rec)", flush=True)
    result: dict = {"protocol": {"initial": INITIAL, "top": "best 5 % of rows", "repeats": args.repeats,
                                 "seed": args.seed}, "tables": {}}
    for tname, (table, budget) in found.items():
        entry = {"rows": len(table.y), "budget": budget, "n_top": int(table.top_mask().sum()), "methods": {}}
        for m in methods:
            rs = [r for r in rows if r["table"] == tname and r["method"] == m]
            efs = np.array([r["ef"] for r in rs])
            entry["methods"][m] = {
                "ef_mean": float(efs.mean()), "ef_std": float(efs.std(ddof=1)) if len(efs) > 1 else 0.0,
                "ef_per_repeat": efs.tolist(),
                "s_per_recommendation": float(np.mean([r["s_per_recommendation"] for r in rs])),
                "found_mean": np.mean([r["found"] for r in rs], axis=0).tolist(),
            }
        result["tables"][tname] = entry
    result["replay_wall_s"] = time.perf_counter() - start
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.out}.json").write_text(json.dumps(result, indent=1))  # kept if the pool timing is cut short
    if pools:
        pool_timings(pools, args.pool_observations, args.pool_cap, OUT / f"{args.out}_pools.json")
    result["machine"] = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "workers": args.workers,
                         "torch_threads_per_worker": 1, "load_average_1min": os.getloadavg()[0]}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    plot(result, OUT / f"{args.out}.png")
    for tname, e in result["tables"].items():
        print(tname, {m: f"EF {v['ef_mean']:.2f} +- {v['ef_std']:.2f}, {v['s_per_recommendation']:.2f} s/rec"
                      for m, v in e["methods"].items()})
    return 0


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["tables"])
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False)
    for ax, tname in zip(axes[0], names):
        e = result["tables"][tname]
        steps = np.arange(1, e["budget"] + 1)
        for m, v in e["methods"].items():
            ax.plot(steps, v["found_mean"], label=f"{m} (EF {v['ef_mean']:.2f} ± {v['ef_std']:.2f})")
        ax.plot(steps, steps / e["rows"], "k--", lw=1, label="random, expected")
        ax.set_title(f"{tname}: {e['rows']} rows, top {e['n_top']}")
        ax.set_xlabel("experiments")
        ax.set_ylabel("fraction of top-5 % found")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
