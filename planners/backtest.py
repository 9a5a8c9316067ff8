"""Offline backtesting: replay planners on a table of past experiments.

A scientist choosing a planner before spending samples replays each one on a
table of experiments already done: the table is the pool (a planner may pick
only its rows), picking a row "measures" its recorded objective. The score is
how fast a planner finds the table's best rows.

* **Table.** CSV with or without a UTF-8 byte-order mark, with or without a
  header (``header=False``; name columns with ``columns``). The objective is a
  column name, or a 0-based column index. Inputs default to every other
  numeric column. Rows with identical inputs are merged into one candidate
  whose objective is their mean (a planner cannot tell them apart).
* **Top rows.** The best ``ceil(5 %)`` of the merged rows (ties at the cut are
  all included).
* **Simulation.** For each planner and repeat ``r``: the same ``initial``
  uniformly random rows for every planner (seeded by ``seed`` and ``r``), then
  one proposal at a time until ``budget`` experiments (the initial ones
  included); the planner's seed is ``seed + r``.
* **Scores.** ``top_fraction[i]``: mean over repeats of the fraction of the
  top rows found after experiment ``i + 1`` (a list of length ``budget``).
  ``enhancement_factor``: ``top_fraction[-1]`` divided by what random
  selection finds in expectation, ``budget / n_rows`` (exact: each top row is
  among ``budget`` uniform draws without replacement with that probability).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

import numpy as np

from labpilot.errors import PlannerError, TableError
from labpilot.planners.base import COMPLETED, Trial, make_planner
from labpilot.planners.pool import read_table
from labpilot.planners.space import ContinuousParam, Objective, Space

TOP_FRACTION = 0.05


@dataclass
class BacktestTable:
    """Merged candidate rows of a past-experiments table."""

    source: str
    inputs: list[str]
    x: np.ndarray  # (n, d) unique input rows
    y: np.ndarray  # (n,) mean objective of each
    objective: Objective
    n_raw: int  # rows before merging duplicates

    @property
    def space(self) -> Space:
        """The pool space a planner sees: one continuous parameter per input, bounded by the data."""
        params = tuple(ContinuousParam(n, float(lo), float(hi)) for n, lo, hi in zip(self.inputs, self.x.min(0), self.x.max(0)))
        return Space(params, pool=self.x)

    def top_mask(self, fraction: float = TOP_FRACTION) -> np.ndarray:
        """True for the best ``ceil(fraction * n)`` rows (plus ties at the cut)."""
        score = self.y * self.objective.sign
        n_top = max(1, math.ceil(fraction * len(score)))
        cut = np.sort(score)[::-1][n_top - 1]
        return score >= cut


def load_table(
    path: str | Path,
    objective: str,
    direction: str,
    inputs: Sequence[str] | None = None,
    header: bool = True,
    columns: Sequence[str] | None = None,
) -> BacktestTable:
    """Read a past-experiments CSV into merged candidate rows (see the module docstring)."""
    if direction not in ("minimize", "maximize"):
        raise TableError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    table = read_table(path, header=header, columns=columns)
    obj_col = _objective_column(table, objective)
    y = table.numeric(obj_col)
    if inputs:
        in_cols = [table.column_index(c) for c in inputs]
        if obj_col in in_cols:
            raise TableError(f"{table.path}: the objective {table.header[obj_col]!r} cannot also be an input")
        x = np.column_stack([table.numeric(c) for c in in_cols])
    else:
        in_cols = [c for c in range(len(table.header)) if c != obj_col and table.is_numeric(c)]
        if not in_cols:
            raise TableError(f"{table.path}: no numeric input columns besides the objective; columns: {table.header}")
        x = np.column_stack([table.numeric(c) for c in in_cols])
    names = [table.header[c] for c in in_cols]
    uniq, inverse = np.unique(x, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    y_mean = np.bincount(inverse, weights=y) / np.bincount(inverse)
    return BacktestTable(
        source=str(table.path), inputs=names, x=uniq, y=y_mean,
        objective=Objective(table.header[obj_col], direction), n_raw=len(y),
    )


def _objective_column(table: Any, objective: str) -> int:
    try:
        return table.column_index(objective)
    except TableError:
        if objective.strip().isdigit() and int(objective) < len(table.header):
            return int(objective)
        raise


def simulate(
    table: BacktestTable,
    planner: str,
    budget: int,
    initial: int,
    seed: int,
    repeat: int,
    options: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Row indices picked in one replay (length ``budget``): ``initial`` random rows, then the planner's."""
    n = len(table.y)
    init_rng = np.random.default_rng([seed & 0xFFFFFFFF, repeat, 7])
    picked = [int(i) for i in init_rng.choice(n, initial, replace=False)]
    space = table.space
    lookup = {tuple(r): i for i, r in enumerate(table.x.tolist())}
    model = make_planner(planner, space, [table.objective], seed=seed + repeat, options=options)
    name = table.objective.name
    history = [Trial(space.to_point(table.x[i]), COMPLETED, {name: float(table.y[i])}) for i in picked]
    while len(picked) < budget:
        try:
            proposal = model.propose(history, 1)[0]
        except PlannerError as e:
            raise PlannerError(f"planner {planner!r} after {len(picked)} experiments: {e}") from None
        row = tuple(space.to_row(proposal.params).tolist())
        if row not in lookup:
            raise PlannerError(f"planner {planner!r} proposed {proposal.params}, which is not a row of the table")
        i = lookup[row]
        if i in picked:
            raise PlannerError(f"planner {planner!r} proposed row {i} ({proposal.params}) a second time")
        picked.append(i)
        history.append(Trial(proposal.params, COMPLETED, {name: float(table.y[i])}))
    return np.array(picked, dtype=int)


def run_backtest(
    table: BacktestTable,
    planners: Sequence[str],
    budget: int,
    repeats: int = 5,
    initial: int = 5,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: TextIO | bool | None = True,
) -> dict[str, Any]:
    """Replay every planner ``repeats`` times; return the JSON-ready result (see module docstring).

    ``progress``: True prints one line per replay to the current ``sys.stderr``;
    a stream prints there; None or False prints nothing.
    """
    stream = sys.stderr if progress is True else (progress or None)
    n = len(table.y)
    if not planners:
        raise PlannerError("name at least one planner to backtest")
    if not 1 <= budget <= n:
        raise PlannerError(f"budget must be between 1 and the {n} distinct rows of the table, got {budget}")
    if not 0 <= initial <= budget:
        raise PlannerError(f"initial must be between 0 and the budget {budget}, got {initial}")
    if repeats < 1:
        raise PlannerError(f"repeats must be at least 1, got {repeats}")
    top = table.top_mask()
    n_top = int(top.sum())
    result: dict[str, Any] = {
        "csv": table.source, "objective": table.objective.name, "direction": table.objective.direction,
        "inputs": table.inputs, "n_rows": n, "n_rows_raw": table.n_raw, "n_top": n_top,
        "top_threshold": float(table.y[top].min() if table.objective.sign > 0 else table.y[top].max()),
        "budget": budget, "repeats": repeats, "initial": initial, "seed": seed,
        "random_expected_fraction": budget / n, "planners": {},
    }
    for name in planners:
        curves, best = [], []
        start = time.perf_counter()
        for r in range(repeats):
            picked = simulate(table, name, budget, initial, seed, r, (options or {}).get(name))
            found = np.cumsum(top[picked]) / n_top
            curves.append(found)
            best.append(np.maximum.accumulate(table.y[picked] * table.objective.sign) * table.objective.sign)
            if stream is not None:
                print(
                    f"[backtest] {name}: repeat {r + 1}/{repeats} done, {int(found[-1] * n_top)}/{n_top} top rows "
                    f"in {budget} experiments ({time.perf_counter() - start:.1f} s)",
                    file=stream, flush=True,
                )
        c = np.array(curves)
        result["planners"][name] = {
            "top_fraction": c.mean(axis=0).tolist(),
            "top_fraction_p10": np.percentile(c, 10, axis=0).tolist(),
            "top_fraction_p90": np.percentile(c, 90, axis=0).tolist(),
            "best_so_far": np.array(best).mean(axis=0).tolist(),
            "enhancement_factor": float(c[:, -1].mean() / (budget / n)),
            "seconds": time.perf_counter() - start,
        }
    return result


def plot_backtest(result: Mapping[str, Any], path: str | Path) -> None:
    """Save the top-fraction curves (mean, 10-90 % band over repeats) with random's expectation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    budget, n = result["budget"], result["n_rows"]
    steps = np.arange(1, budget + 1)
    for name, r in result["planners"].items():
        (line,) = ax.plot(steps, r["top_fraction"], label=f"{name} (EF {r['enhancement_factor']:.1f})")
        ax.fill_between(steps, r["top_fraction_p10"], r["top_fraction_p90"], color=line.get_color(), alpha=0.2)
    ax.plot(steps, steps / n, "k--", lw=1, label="random, expected")
    ax.set_xlabel("experiments")
    ax.set_ylabel(f"fraction of top-5% rows found (of {result['n_top']})")
    ax.set_title(f"{Path(result['csv']).name}: {result['direction']} {result['objective']}, {result['repeats']} repeats")
    top = max([max(r["top_fraction_p90"]) for r in result["planners"].values()] + [budget / n])
    ax.set_ylim(0, min(1.02, 1.15 * top + 0.01))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
