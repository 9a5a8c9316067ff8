"""Benchmark (a): scoring a huge candidate pool, vectorized vs one acquisition call per candidate.

Setting: a GP fitted to ``--obs`` observations in ``--dim`` dimensions, a pool
of ``--pool`` candidates. Three measurements in the same run:

1. **vectorized** (what ``bo`` does): posterior mean/std of every candidate in
   chunks from one cached posterior (``gp.posterior_mean_std``), then the
   closed-form log-EI (``analytic.log_ei``).
2. **naive**: BoTorch's ``LogExpectedImprovement`` called on one candidate at a
   time, on a random subsample of ``--naive`` candidates, extrapolated to the
   whole pool (running it on 10^6 candidates would take hours). The two
   methods' scores on the subsample are compared to show they agree.
3. **bo.propose** on the same pool and data, end to end (GP fit, "never
   re-propose" filter, scoring, pick), for k = 1 and k = 10 (greedy batch).

Run:  python -m benchmarks.pool_scoring [--pool 1000000] [--obs 1000] [--dim 6]
Writes benchmarks/results/pool_scoring.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"


def truth(x: np.ndarray) -> np.ndarray:
    """A smooth multimodal test function on the unit cube."""
    return np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1]) + 0.5 * x[:, 2:].sum(axis=1) - (x[:, 0] - 0.6) ** 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=1_000_000)
    ap.add_argument("--obs", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=6)
    ap.add_argument("--naive", type=int, default=300, help="candidates scored one by one (then extrapolated)")
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from botorch.acquisition import LogExpectedImprovement

    from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
    from labpilot.planners.analytic import log_ei
    from labpilot.planners.gp import fit_gp, posterior_mean_std

    rng = np.random.default_rng(args.seed)
    pool = rng.uniform(size=(args.pool, args.dim))
    obs_idx = rng.choice(args.pool, args.obs, replace=False)
    y = truth(pool[obs_idx]) + 0.05 * rng.standard_normal(args.obs)
    bounds = torch.stack([torch.zeros(args.dim), torch.ones(args.dim)]).double()

    t = time.perf_counter()
    model = fit_gp(torch.as_tensor(pool[obs_idx]), torch.as_tensor(y), bounds=bounds)
    fit_s = time.perf_counter() - t
    X = torch.as_tensor(pool)
    best = posterior_mean_std(model, torch.as_tensor(pool[obs_idx]))[0].max()

    t = time.perf_counter()
    mean, std = posterior_mean_std(model, X, chunk=args.chunk)
    scores = log_ei(mean[:, 0], std[:, 0], best)
    vec_s = time.perf_counter() - t

    sub = rng.choice(args.pool, args.naive, replace=False)
    acq = LogExpectedImprovement(model, best_f=best)
    naive_scores = []
    t = time.perf_counter()
    with torch.no_grad():
        for i in sub:
            naive_scores.append(float(acq(X[i : i + 1].unsqueeze(0))))
    naive_sub_s = time.perf_counter() - t
    naive_s = naive_sub_s * args.pool / args.naive
    naive_arr = np.array(naive_scores)
    relevant = naive_arr > np.log(1e-6) + naive_arr.max()  # candidates within 10^6 of the best EI
    diff = float(np.max(np.abs(naive_arr[relevant] - scores[sub].numpy()[relevant])))
    top_overlap = len(set(np.argsort(-naive_arr)[:10]) & set(np.argsort(-scores[sub].numpy())[:10]))
    exact_mean, exact_std = posterior_mean_std(model, X[sub], fast=False)
    exact = log_ei(exact_mean[:, 0], exact_std[:, 0], best)
    diff_exact = float(np.max(np.abs(np.array(naive_scores) - exact.numpy())))

    names = [f"x{i}" for i in range(args.dim)]
    space = Space(tuple(ContinuousParam(n, 0.0, 1.0) for n in names), pool=pool)
    history = [Trial(space.to_point(pool[i]), "completed", {"y": float(v)}) for i, v in zip(obs_idx, y)]
    planner = make_planner("bo", space, [Objective("y")], seed=args.seed)
    propose_s = {}
    for k in (1, 10):
        t = time.perf_counter()
        props = planner.propose(history, k=k)
        propose_s[k] = time.perf_counter() - t
        assert len(props) == k

    result = {
        "pool": args.pool,
        "observations": args.obs,
        "dim": args.dim,
        "chunk": args.chunk,
        "gp_fit_s": round(fit_s, 3),
        "vectorized_score_s": round(vec_s, 3),
        "vectorized_candidates_per_s": round(args.pool / vec_s),
        "naive_subsample": args.naive,
        "naive_subsample_s": round(naive_sub_s, 3),
        "naive_extrapolated_s": round(naive_s, 1),
        "speedup": round(naive_s / vec_s, 1),
        "max_abs_logei_difference_fast_vs_naive_where_ei_within_1e6_of_best": diff,
        "top10_overlap_fast_vs_naive_on_subsample": top_overlap,
        "max_abs_logei_difference_exact_vs_naive": diff_exact,
        "bo_propose_k1_s": round(propose_s[1], 3),
        "bo_propose_k10_s": round(propose_s[10], 3),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
    }
    print(json.dumps(result, indent=2))
    print(
        f"\npool {args.pool:,} x {args.dim}-D, {args.obs} observations: vectorized {vec_s:.2f} s, "
        f"naive per-candidate loop {naive_s:,.0f} s (extrapolated from {args.naive}), "
        f"ratio {naive_s / vec_s:,.0f}x; bo.propose k=1 {propose_s[1]:.2f} s, k=10 {propose_s[10]:.2f} s"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pool_scoring.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
