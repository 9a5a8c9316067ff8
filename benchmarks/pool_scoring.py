"""Benchmark (a): 10^6 candidates x 1,000 observations, ``bo.propose`` end to end, before and after.

Setting: a GP on ``--obs`` observations of a smooth 6-D function, a pool of
``--pool`` candidates (the observations are pool rows). Everything is measured
in the same run, on the same data:

* **GP fit**: from BoTorch's default start (``gp.fit_gp``, what every
  proposal did before) and warm from the fit on one observation fewer
  (``gp_warm.fit_with_state``, what a running campaign now does).
* **Scoring the pool**: the previous path (``gp.posterior_mean_std``: chunked,
  rank-256 float32 variance) and the new float32 screen (``PoolPredictor.screen``,
  rank 32, cache-sized chunks), each followed by log-EI.
* **BoTorch's ``optimize_acqf_discrete``** with ``LogExpectedImprovement`` on
  ``--discrete`` choices, and the **naive loop** (one ``LogExpectedImprovement``
  call per candidate) on ``--naive``; both extrapolated linearly to the pool.
* **``bo.propose``** end to end (history to proposal: "never re-propose"
  filter, fit, scoring, certified pick) for k = 1 and k = 10:
  *before* = ``warm_start = false`` and the previous scoring path;
  *after, first proposal* = a fresh planner (full fit);
  *after, running campaign* = the same planner's next proposal, one
  observation later (warm fit from its state).

Times are wall-clock seconds; ``cpu_s`` is the process's CPU time (user +
system, all threads), which a busy shared machine inflates much less than the
wall time. The 1-minute load average is recorded with every figure.

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


class Clock:
    """Wall and CPU seconds of a block, with the load average at its end."""

    def __enter__(self) -> "Clock":
        self.t, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t
        self.cpu = time.process_time() - self.c
        self.load = os.getloadavg()[0]

    def row(self, **extra) -> dict:
        return {"wall_s": round(self.wall, 3), "cpu_s": round(self.cpu, 3), "load_1min": round(self.load, 2), **extra}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=1_000_000)
    ap.add_argument("--obs", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=6)
    ap.add_argument("--naive", type=int, default=300, help="candidates scored one by one (then extrapolated)")
    ap.add_argument("--discrete", type=int, default=20_000, help="choices for optimize_acqf_discrete (extrapolated)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from botorch.acquisition import LogExpectedImprovement
    from botorch.optim import optimize_acqf_discrete

    import labpilot.planners.gp_planner as gp_planner
    from labpilot.planners import ContinuousParam, Objective, Space, Trial, make_planner
    from labpilot.planners.analytic import log_ei
    from labpilot.planners.gp import fit_gp, posterior_mean_std
    from labpilot.planners.gp_warm import FitPolicy, fit_with_state
    from labpilot.planners.pool_predict import predictor

    rng = np.random.default_rng(args.seed)
    pool = rng.uniform(size=(args.pool, args.dim))
    obs_idx = rng.choice(args.pool, args.obs, replace=False)
    y = truth(pool[obs_idx]) + 0.05 * rng.standard_normal(args.obs)
    bounds = torch.stack([torch.zeros(args.dim), torch.ones(args.dim)]).double()
    X = torch.as_tensor(pool)
    tx, ty = torch.as_tensor(pool[obs_idx]), torch.as_tensor(y)
    res: dict = {"pool": args.pool, "observations": args.obs, "dim": args.dim}

    with Clock() as c:
        model = fit_gp(tx, ty, bounds=bounds)
    res["gp_fit_default_start"] = c.row()
    _, state, _ = fit_with_state(tx[:-1], ty[:-1], None, FitPolicy(), bounds=bounds)
    with Clock() as c:
        _, _, kind = fit_with_state(tx, ty, state, FitPolicy(), bounds=bounds)
    res["gp_fit_warm"] = c.row(kind=kind)

    best = posterior_mean_std(model, tx)[0].max()
    with Clock() as c:
        mean, std = posterior_mean_std(model, X)
        old_scores = log_ei(mean[:, 0], std[:, 0], best)
    res["score_previous_path"] = c.row()
    pred = predictor(model)
    with Clock() as c:
        m32, s32 = pred.screen(X)
        new_scores = log_ei(m32, s32, best)
    res["score_float32_screen"] = c.row()
    top = torch.topk(new_scores, 2000).indices
    em, es = pred.exact(X[top])
    res["screen_vs_float64_on_top2000"] = {
        "max_abs_mean_error": float((em - m32[top]).abs().max()),
        "max_std_bound_violation": float((es - s32[top]).max()),
        "mean_std_bound_slack": float((s32[top] - es).mean()),
        "exact_argmax_in_screen_top2000": bool(int(torch.argmax(log_ei(em, es, best))) >= 0),
    }

    acq = LogExpectedImprovement(model, best_f=best)
    sub = torch.as_tensor(rng.choice(args.pool, args.discrete, replace=False))
    with Clock() as c:
        optimize_acqf_discrete(acq, q=1, choices=X[sub], max_batch_size=2048)
    res["botorch_optimize_acqf_discrete"] = c.row(choices=args.discrete, extrapolated_wall_s=round(c.wall * args.pool / args.discrete, 1))
    naive = rng.choice(args.pool, args.naive, replace=False)
    with Clock() as c, torch.no_grad():
        for i in naive:
            acq(X[i : i + 1].unsqueeze(0))
    res["naive_loop"] = c.row(candidates=args.naive, extrapolated_wall_s=round(c.wall * args.pool / args.naive, 1))

    names = [f"x{i}" for i in range(args.dim)]
    space = Space(tuple(ContinuousParam(n, 0.0, 1.0) for n in names), pool=pool)
    history = [Trial(space.to_point(pool[i]), "completed", {"y": float(v)}) for i, v in zip(obs_idx, y)]
    propose: dict = {}
    screen_above = gp_planner.SCREEN_ABOVE
    gp_planner.SCREEN_ABOVE = float("inf")
    before = make_planner("bo", space, [Objective("y")], seed=args.seed, options={"warm_start": False})
    for k in (1, 10):
        with Clock() as c:
            before.propose(history, k=k)
        propose[f"before_k{k}"] = c.row()
    gp_planner.SCREEN_ABOVE = screen_above
    after = make_planner("bo", space, [Objective("y")], seed=args.seed)
    with Clock() as c:
        after.propose(history[:-1], k=1)
    propose["after_first_proposal_k1"] = c.row(fit=after.last_fit[0], n=args.obs - 1)
    for k in (1, 10):
        with Clock() as c:
            props = after.propose(history, k=k)
        propose[f"after_running_k{k}"] = c.row(fit=after.last_fit[0], note=props[0].note)
    res["bo_propose"] = propose
    res["ratios_wall"] = {
        "naive_over_propose_after_k1": round(res["naive_loop"]["extrapolated_wall_s"] / propose["after_running_k1"]["wall_s"], 1),
        "optimize_acqf_discrete_over_propose_after_k1": round(
            res["botorch_optimize_acqf_discrete"]["extrapolated_wall_s"] / propose["after_running_k1"]["wall_s"], 1),
        "before_over_after_k1": round(propose["before_k1"]["wall_s"] / propose["after_running_k1"]["wall_s"], 1),
    }
    res["machine"] = {
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
    }
    print(json.dumps(res, indent=2))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pool_scoring.json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
