"""Benchmark (e): labpilot's ``bo`` against BayBE's default recommender, same tables, seeds and protocol.

Protocol (Liang et al., npj Comput. Mater. 7, 188 (2021)): each public table
is the pool; each replay starts from the same 2 random rows for every method
(seeded by repeat), then one recommendation at a time up to the budget; the
top set is the best 5 % of the table's rows; the score is the enhancement
factor (EF, dimensionless: fraction of the top set found at the budget over
random's expectation, budget / rows).

Tables (``benchmarks/peer_tables.py``, a rule fixed before any result): every
table in ``shared/data`` and in the ``olymp`` package (Olympus' shipped
experimental tables, read as files) whose inputs are all numeric and that has
at least 100 distinct input rows (duplicates averaged); budget 50 for tables
of at least 1,000 rows, else 30. Ten tables pass (Olympus' benzylation and
SnAr are too small).

Methods: ``bo`` (labpilot's defaults), ``bo-old`` (the defaults before the
selection: log-EI on the values as measured), the selection variants
``v-*`` and BayBE's ``Campaign`` with its default recommender (random first,
then its BoTorch recommender with its default GP surrogate and qLogEI),
restricted to unmeasured rows.

Every finished replay is one JSON line in ``results/bo_vs_baybe_replays.jsonl``
(table, method, repeat, seed, EF, found curve, rows picked, seconds per
recommendation, load); a rerun skips cached replays, so BayBE's baseline ran
once. The report pairs each labpilot method with BayBE repeat by repeat (same
initial rows): the mean difference and its SEM, "ahead" when the mean is
above 2 SEM, "behind" below -2 SEM, else "level". ``bo``'s defaults were chosen
on other seeds (``benchmarks/bo_select.py``, seed 1000) than the report's
(seed 0), so the figure carries no selection bias.

Also (``--pools-only`` runs just this part): set-up plus one recommendation on
synthetic pools of 10^4 and 10^5 candidates (6-D, 50 measured rows), BayBE
against labpilot's ``bo``; each configuration runs in a fresh process under a
wall-clock cap (``--pool-cap``), after a warm-up on a 1,000-row pool so that
imports are not counted, and the results file is rewritten after each one.

Needs the ``bench`` extra (``pip install -e .[bench]``).
Run:  python -m benchmarks.bo_vs_baybe --methods bo,bo-old,baybe --repeats 20 --workers 1
      (``--replays-only`` fills the cache without the report; ``--reverse`` for a second process)
      python -m benchmarks.bo_vs_baybe --pools-only [--pools 10000,100000] [--pool-cap 900]
Writes benchmarks/results/bo_vs_baybe.{json,png} (the earlier 5-repeat, 2-table result under "before")
and bo_vs_baybe_pools.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path
from typing import Iterator

import numpy as np

from benchmarks.data import shared_data

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"
INITIAL = 2
METHODS = {"bo": {}, "bo-qucb": {"acquisition": "qucb"}, "baybe": None}
#: Model and acquisition variants of ``bo`` compared on the selection seeds (``benchmarks.bo_select``).
VARIANTS = {
    "v-default": {},
    "v-ucb": {"acquisition": "ucb"},
    "v-rank": {"output_warp": "rank"},
    "v-power": {"output_warp": "power"},
    "v-gamma": {"gp_priors": "gamma"},
    "v-cold": {"warm_start": False},
    "v-ucb-rank": {"acquisition": "ucb", "output_warp": "rank"},
    "v-gamma-rank": {"gp_priors": "gamma", "output_warp": "rank"},
    # round 2 (after v-ucb-rank won round 1): its neighbours, same seeds and rule
    "v-ucb-rank-gamma": {"acquisition": "ucb", "output_warp": "rank", "gp_priors": "gamma"},
    "v-ucb-rank-beta1": {"acquisition": "ucb", "output_warp": "rank", "beta": 1.0},
    "v-ucb-rank-beta4": {"acquisition": "ucb", "output_warp": "rank", "beta": 4.0},
    "v-ucb-power": {"acquisition": "ucb", "output_warp": "power"},
    # round 4: randomised UCB (beta drawn per proposal, mean 1) against the replays that stall in a local basin
    "v-ucb-rank-rbeta1": {"acquisition": "ucb", "output_warp": "rank", "beta": 1.0, "beta_draw": "exponential"},
    # round 5: the default with BayBE's lighter-tailed gamma priors (with beta 2 they scored above beta 2 alone)
    "v-ucb-rank-beta1-gamma": {"acquisition": "ucb", "output_warp": "rank", "beta": 1.0, "gp_priors": "gamma"},
    # round 6: the default with the skill guard (a no-skill fit with a collapsed lengthscale refitted with a floor)
    "v-ucb-rank-beta1-skill": {"acquisition": "ucb", "output_warp": "rank", "beta": 1.0, "skill_guard": True},
    # round 7: Thompson sampling (one pathwise posterior draw per pick) on rank-warped values, against the stalls
    "v-ts-rank": {"acquisition": "ts", "output_warp": "rank"},
}
METHODS.update(VARIANTS)
#: ``bo``'s default after selection round 1 (UCB beta 2 on rank-warped values), kept as a report row.
METHODS["bo-r1"] = {"acquisition": "ucb", "output_warp": "rank", "beta": 2.0}
#: ``bo`` as it was before the selection (every switch the selection compared, spelt out), for the report.
METHODS["bo-old"] = {"acquisition": "logei", "output_warp": "none", "gp_priors": "lognormal", "warm_start": True}


def tables(only: list[str] | None = None) -> dict:
    """name -> (BacktestTable, budget): the tables ``benchmarks.peer_tables``' fixed rule admits."""
    from benchmarks.peer_tables import all_tables

    return all_tables(only)


def initial_rows(n: int, repeat: int, seed: int) -> list[int]:
    """The same initial rows for every method (``planners.backtest``'s rule)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, repeat, 7])
    return [int(i) for i in rng.choice(n, INITIAL, replace=False)]


def replay_baybe(table, budget: int, repeat: int, seed: int) -> tuple[list[int], float]:
    """One BayBE replay: picked row indices and mean seconds per recommendation."""
    import pandas as pd
    from baybe import Campaign
    from baybe.searchspace import SubspaceDiscrete
    from baybe.targets import NumericalTarget
    from baybe.utils.random import set_random_seed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        set_random_seed(seed + repeat)
    names = table.inputs
    df = pd.DataFrame(table.x, columns=names)
    # Parameters inferred from the columns (each a NumericalDiscreteParameter over the column's distinct values,
    # as explicit ones would be): explicit ones make BayBE check every cell against every value in Python.
    target = NumericalTarget(table.objective.name, minimize=table.objective.sign < 0)
    campaign = Campaign(SubspaceDiscrete.from_dataframe(df).to_searchspace(), target.to_objective(),
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


def replay_bo(table, budget: int, repeat: int, seed: int, options: dict) -> tuple[list[int], float, dict]:
    """One labpilot replay (``planners.backtest.simulate``, timed per proposal).

    The third value is what the skill guard did (fits looked at, triggered, floored refits kept), empty without it.
    """
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
    log = getattr(planner, "skill_guard_log", [])
    guard = {"fits": len(log), "triggered": sum(g.triggered for g in log), "floored": sum(g.floored for g in log)} \
        if options.get("skill_guard") else {}
    return picked, float(np.mean(times)), guard


def job(args: tuple[str, str, int, int]) -> dict:
    """One replay (table, method, repeat, seed) -> its cache line."""
    tname, method, repeat, seed = args
    import torch

    torch.set_num_threads(1)
    table, budget = tables([tname])[tname]
    t = time.perf_counter()
    guard: dict = {}
    if method == "baybe":
        picked, per = replay_baybe(table, budget, repeat, seed)
    else:
        picked, per, guard = replay_bo(table, budget, repeat, seed, METHODS[method])
    top = table.top_mask()
    found = np.cumsum(top[picked]) / top.sum()
    return {"table": tname, "method": method, "repeat": repeat, "seed": seed, "ef": float(found[-1] / (budget / len(table.y))),
            "found": found.tolist(), "picked": picked, "s_per_recommendation": per,
            "wall_s": time.perf_counter() - t, "load_average_1min": os.getloadavg()[0],
            **({"skill_guard": guard} if guard else {})}


def read_cache(path: Path) -> dict:
    """(table, method, repeat, seed) -> cached replay line (later lines win)."""
    out: dict = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[(r["table"], r["method"], r["repeat"], r["seed"])] = r
    return out


def run_replays(jobs: list[tuple[str, str, int, int]], cache: Path, workers: int, budgets: dict) -> None:
    """Run the jobs not in ``cache`` (in the given order), appending each finished replay as one JSON line.

    With one worker the cache is re-read before each job, so a second process
    working the same list from the other end (``--reverse``) is not repeated.
    """
    done = read_cache(cache)
    todo = [j for j in jobs if j not in done]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} replays cached in {cache.name}; {len(todo)} to run", flush=True)
    if not todo:
        return
    recs = {j: budgets[j[0]] - INITIAL for j in todo}
    total, done_recs, start = sum(recs.values()), 0, time.perf_counter()
    cache.parent.mkdir(parents=True, exist_ok=True)

    def live() -> "Iterator[tuple[str, str, int, int]]":
        nonlocal total
        for j in todo:
            if j in read_cache(cache):
                total -= recs[j]
                continue
            yield j

    with Pool(workers) if workers > 1 else _Serial() as pool:
        for k, r in enumerate(pool.imap(job, todo if workers > 1 else live()), 1):
            with cache.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
            done_recs += recs[(r["table"], r["method"], r["repeat"], r["seed"])]
            elapsed = time.perf_counter() - start
            eta = elapsed / done_recs * max(total - done_recs, 0)
            print(f"[{k}/{len(todo)}] {r['table']:<24}{r['method']:<14} repeat {r['repeat']:>2} seed {r['seed']}: "
                  f"EF {r['ef']:5.2f} ({r['s_per_recommendation']:.2f} s/rec, load {r['load_average_1min']:.1f}) "
                  f"elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min "
                  f"({time.strftime('%H:%M', time.gmtime(time.time() + eta))} UTC)", flush=True)


class _Serial:
    """In-process stand-in for ``multiprocessing.Pool`` (one worker: no fork, imports paid once)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def imap(self, fn, items):
        return map(fn, items)


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
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default="bo,bo-old,baybe")
    ap.add_argument("--tables", default="")
    ap.add_argument("--pools", default="10000,100000")
    ap.add_argument("--pools-only", action="store_true", help="only the pool timing (no replays)")
    ap.add_argument("--pool-observations", type=int, default=50)
    ap.add_argument("--pool-cap", type=float, default=900.0, help="seconds per (pool, tool) configuration")
    ap.add_argument("--pool-decimals", type=int, default=6,
                    help="round the pool's values (fewer distinct values per column: BayBE validates per value)")
    ap.add_argument("--pool-config", help=argparse.SUPPRESS)  # child process: tool:pool:observations:decimals
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="bo_vs_baybe")
    ap.add_argument("--cache", default="bo_vs_baybe_replays.jsonl", help="replay cache (JSON lines) under results/")
    ap.add_argument("--replays-only", action="store_true", help="run (or complete) the cached replays, no report")
    ap.add_argument("--reverse", action="store_true", help="work the replay list from its end (a second process)")
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
        print(f"no tables under {shared_data()} nor in the olymp package", file=sys.stderr)
        return 1
    methods = [m for m in args.methods.split(",") if m]
    cache = OUT / args.cache
    # repeat-major: whatever finishes first is a balanced set of whole repeats over every table
    jobs = [(t, m, r, args.seed) for r in range(args.repeats) for t in found for m in methods]
    if args.reverse:
        jobs.reverse()
    run_replays(jobs, cache, args.workers, {t: b for t, (_, b) in found.items()})
    if args.replays_only:
        return 0
    prev = OUT / f"{args.out}.json"
    before = None
    if prev.is_file():
        old = json.loads(prev.read_text())
        before = old.get("before", old)  # the first result written over keeps its place under "before"
    result = summarise(found, methods, read_cache(cache), args.seed, args.repeats, before)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    plot(result, OUT / f"{args.out}.png", methods)
    for tname, e in result["tables"].items():
        print(f"{tname:<24}" + "  ".join(f"{m} {v['ef_mean']:.2f}±{v['ef_std']:.2f} ({v['s_per_recommendation']:.2f} s/rec)"
                                         for m, v in e["methods"].items())
              + "  | " + "  ".join(f"{m}-baybe {d['mean']:+.2f}±{d['sem']:.2f} {d['verdict']}"
                                   for m, d in e.get("vs_baybe", {}).items())
              + "  | found-AUC " + "  ".join(f"{m}-baybe {d['mean']:+.1f}±{d['sem']:.1f} pts {d['verdict']}"
                                            for m, d in e.get("vs_baybe_found_auc", {}).items()))
    return 0


#: The verdict rule: ahead (behind) when the paired mean difference to BayBE is above (below) 2 SEM, else level.
VERDICT_SEMS = 2.0


def paired(method_efs: list[float], baybe_efs: list[float]) -> dict:
    """Paired difference method - baybe over repeats (same initial rows): mean, SEM and the verdict."""
    d = np.asarray(method_efs) - np.asarray(baybe_efs)
    sem = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    mean = float(d.mean())
    verdict = "ahead" if mean > VERDICT_SEMS * sem else "behind" if mean < -VERDICT_SEMS * sem else "level"
    return {"mean": mean, "sem": sem, "n": len(d), "verdict": verdict, "per_repeat": d.tolist()}


def found_auc(found: list[float]) -> float:
    """The mean fraction of the top set found over the recommendations (after the initial rows), in percent.

    The area under Liang et al.'s "top % found" curve: it credits finding the
    top rows early, so it still tells methods apart where the EF at the budget
    is at its ceiling (every top row found, as on colors_n9).
    """
    return float(np.mean(found[INITIAL:]) * 100.0)


def summarise(found: dict, methods: list[str], cache: dict, seed: int, repeats: int, before: dict | None = None) -> dict:
    """Per table and method from the cached replays: EF statistics over the repeats every method finished
    (so every comparison is paired), and each labpilot method's paired difference to BayBE."""
    from benchmarks.peer_tables import MIN_ROWS, skipped

    result: dict = {
        "protocol": {"initial": INITIAL, "top": "best 5 % of the table's distinct rows (ties at the cut included)",
                     "repeats_asked": repeats, "seed": seed,
                     "initial_rows": "numpy default_rng([seed, repeat, 7]) draws 2 rows, the same for every method",
                     "planner_seed": "seed + repeat (BayBE: set_random_seed(seed + repeat))",
                     "ef": "fraction of the top set found at the budget / (budget / rows); dimensionless, random = 1",
                     "table_rule": f"all inputs numeric and >= {MIN_ROWS} distinct input rows (duplicates averaged); "
                                   "budget 50 for >= 1,000 rows, else 30 (benchmarks/peer_tables.py)",
                     "found_auc": "mean fraction (percent) of the top set found over recommendations 3 .. budget "
                                  "(the area under the top-%-found curve; vs_baybe_found_auc pairs it like the EF)",
                     "verdict": f"paired difference method - baybe per repeat; ahead if its mean > {VERDICT_SEMS:g} SEM, "
                                f"behind if < -{VERDICT_SEMS:g} SEM, else level",
                     "methods": {m: METHODS[m] for m in methods}},
        "tables_skipped": skipped(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads_per_process": 1,
                    "shared": "2 cores shared with three other helpers' jobs; load averages per replay in the cache",
                    "load_average_at_report": list(os.getloadavg())},
        "tables": {},
    }
    loads = []
    for tname, (table, budget) in found.items():
        have = {m: {r: cache[(tname, m, r, seed)] for r in range(repeats) if (tname, m, r, seed) in cache} for m in methods}
        common = sorted(set.intersection(*[set(h) for h in have.values()])) if have else []
        entry: dict = {"rows": len(table.y), "rows_raw": table.n_raw, "budget": budget,
                       "n_top": int(table.top_mask().sum()), "repeats": common, "methods": {}}
        for m in methods:
            rs = [have[m][r] for r in common]
            if not rs:
                continue
            efs = np.array([r["ef"] for r in rs])
            loads += [r["load_average_1min"] for r in rs]
            entry["methods"][m] = {
                "ef_mean": float(efs.mean()), "ef_std": float(efs.std(ddof=1)) if len(efs) > 1 else 0.0,
                "ef_sem": float(efs.std(ddof=1) / np.sqrt(len(efs))) if len(efs) > 1 else 0.0,
                "ef_per_repeat": efs.tolist(),
                "s_per_recommendation": float(np.mean([r["s_per_recommendation"] for r in rs])),
                "found_mean": np.mean([r["found"] for r in rs], axis=0).tolist(),
                "found_auc_per_repeat": [found_auc(r["found"]) for r in rs],
            }
        if "baybe" in entry["methods"]:
            base = entry["methods"]["baybe"]
            entry["vs_baybe"] = {m: paired(v["ef_per_repeat"], base["ef_per_repeat"])
                                 for m, v in entry["methods"].items() if m != "baybe"}
            entry["vs_baybe_found_auc"] = {m: paired(v["found_auc_per_repeat"], base["found_auc_per_repeat"])
                                           for m, v in entry["methods"].items() if m != "baybe"}
        result["tables"][tname] = entry
    if loads:
        result["machine"]["load_average_1min_during_replays"] = {"min": min(loads), "median": float(np.median(loads)),
                                                                  "max": max(loads)}
    if before is not None:
        result["before"] = before
    return result


def plot(result: dict, path: Path, methods: list[str] | None = None) -> None:
    """EF per table (mean +- 1 SEM, each method), and the paired differences to BayBE (mean +- 2 SEM) in the
    EF and in the found-AUC (``found_auc``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["tables"])
    methods = methods or list(next(iter(result["tables"].values()))["methods"])
    fig, (ax, bx, cx) = plt.subplots(3, 1, figsize=(max(9, 1.1 * len(names) + 3), 11), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2, 2]})
    x = np.arange(len(names))
    w = 0.8 / len(methods)
    for i, m in enumerate(methods):
        means = [result["tables"][t]["methods"][m]["ef_mean"] for t in names]
        sems = [result["tables"][t]["methods"][m]["ef_sem"] for t in names]
        ax.bar(x + (i - (len(methods) - 1) / 2) * w, means, w, yerr=sems, capsize=3, label=m)
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="random (EF = 1)")
    n_rep = sorted({len(result["tables"][t]["repeats"]) for t in names})
    ax.set_ylabel("enhancement factor at the budget\n(dimensionless; top-5 % found / random's)")
    ax.set_title(f"labpilot bo vs BayBE, same initial rows and seeds; bars: mean ± 1 SEM over "
                 f"{'/'.join(map(str, n_rep))} repeats")
    ax.legend(fontsize=8, ncol=len(methods) + 1)
    others = [m for m in methods if m != "baybe"]
    w2 = 0.8 / max(1, len(others))
    for panel, key, label in ((bx, "vs_baybe", "paired EF difference to BayBE\n(dimensionless; mean ± 2 SEM)"),
                              (cx, "vs_baybe_found_auc", "paired found-AUC difference\nto BayBE "
                                                          "(percentage points; mean ± 2 SEM)")):
        for i, m in enumerate(others):
            d = [result["tables"][t][key][m] for t in names]
            panel.errorbar(x + (i - (len(others) - 1) / 2) * w2, [v["mean"] for v in d],
                           yerr=[VERDICT_SEMS * v["sem"] for v in d], fmt="o", capsize=4, label=f"{m} − baybe")
        panel.axhline(0.0, color="k", lw=0.8)
        panel.set_ylabel(label)
        panel.legend(fontsize=8)
    cx.set_xticks(x, [f"{t.removeprefix('olympus_')}\n{result['tables'][t]['rows']} rows, B={result['tables'][t]['budget']}"
                      for t in names], rotation=30, ha="right", fontsize=8)
    cx.set_xlabel("table (Olympus tables without the olympus_ prefix); B: experiments per replay")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
