"""Offline backtesting: replay planners on a table of past experiments.

A scientist choosing a planner before spending samples replays each one on a
table of experiments already done: the table is the pool (a planner may pick
only its rows), picking a row "measures" its recorded objective. The score is
how fast a planner finds the table's best rows.

* **Table.** CSV with or without a UTF-8 byte-order mark, with or without a
  header (``header=False``; name columns with ``columns``). The objective is a
  column name, or a 0-based column index. Inputs default to every other
  numeric column plus every text column with repeated values (a
  **categorical** input such as a solvent: one-hot in the GP); a text column
  whose values are (almost) all distinct looks like an id or a name and is
  left out with a warning. Rows with identical inputs are merged into one
  candidate whose objective is their mean (a planner cannot tell them apart).
  A header whose cells are all numbers is probably a first data row: a
  warning says so (``header=False``).
* **Measured descriptors.** ``measured`` names columns (``fnmatch`` patterns
  allowed, e.g. ``xrd_*``) that were measured on each row, not chosen: they are
  not inputs, and each picked row's values reach the planner as
  ``Trial.measured["measured"]`` (merged rows: their mean). A planner that
  models measured descriptors (``used``, ``boed``) is refused without them,
  never run on random picks.
* **Descriptors.** ``descriptors`` names columns (``fnmatch`` patterns) that
  describe each candidate for the model, separately from its inputs (e.g. a
  polymer's computed properties next to the recipe that makes it): not
  inputs, read by the campaigns' pool reader (``planners.pool_table``:
  float32, checked cell by cell), scaled to [0, 1] and modelled instead of
  the inputs, exactly as a campaign's ``[space] descriptors`` are (merged
  rows: their mean). Planners that cannot plan over such a pool are refused.
* **Priors.** ``priors`` (``planners.prior.PriorData``) go to the planners
  that use them (``bo``); the result says which did.
* **Top rows.** The best ``ceil(5 %)`` of the merged rows (ties at the cut are
  all included).
* **Simulation.** For each planner and repeat ``r``: the same ``initial``
  uniformly random rows for every planner (seeded by ``seed`` and ``r``), then
  one proposal at a time until ``budget`` experiments (the initial ones
  included); the planner's seed is ``seed + r``.
* **Scores.** ``top_fraction[i]``: mean over repeats of the fraction of the
  top rows found after experiment ``i + 1`` (a list of length ``budget``),
  ``top_fraction_sd`` its standard deviation over repeats; ``repeats`` lists
  each replay (rows picked, top rows found, best value, seconds per proposal)
  so a spread can be reported; ``seconds_per_proposal`` is the mean time of
  one planner proposal (initial random rows excluded).
  ``enhancement_factor``: ``top_fraction[-1]`` divided by what random
  selection finds in expectation, ``budget / n_rows`` (exact: each top row is
  among ``budget`` uniform draws without replacement with that probability).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

import numpy as np

from labpilot.errors import PlannerError, TableError
from labpilot.planners.base import COMPLETED, Trial, make_planner
from labpilot.planners.pool import read_table
from labpilot.planners.space import CategoricalParam, ContinuousParam, Objective, Space

TOP_FRACTION = 0.05
#: The id of a merged row when descriptors are modelled (a pool table's id column).
ROW_ID = "backtest_row"


@dataclass
class BacktestTable:
    """Merged candidate rows of a past-experiments table."""

    source: str
    inputs: list[str]
    x: np.ndarray  # (n, d) unique input rows
    y: np.ndarray  # (n,) mean objective of each
    objective: Objective
    n_raw: int  # rows before merging duplicates
    #: input position -> its choices, for categorical inputs (``x`` holds the choice index)
    categorical: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: (n, p) measured descriptors of each merged row, or None
    measured: np.ndarray | None = None
    measured_names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: (n, f) float32 model descriptors of each merged row scaled to [0, 1], or None: the model sees the inputs
    descriptors: np.ndarray | None = None
    descriptor_names: list[str] = field(default_factory=list)

    @property
    def space(self) -> Space:
        """The pool space a planner sees: a continuous parameter per numeric input (bounded by the data), categoricals as such."""
        params: list[Any] = []
        for j, name in enumerate(self.inputs):
            if j in self.categorical:
                params.append(CategoricalParam(name, self.categorical[j]))
            else:
                params.append(ContinuousParam(name, float(self.x[:, j].min()), float(self.x[:, j].max())))
        if self.descriptors is None:
            return Space(tuple(params), pool=self.x)
        return Space(tuple(params), candidates=self._candidates(Space(tuple(params))))

    def _candidates(self, inputs: Space) -> Any:
        """The merged rows as a pool table (ids 0..n-1) whose model features are the descriptors."""
        cached = self.__dict__.get("_table")
        if cached is None:
            import pyarrow as pa

            from labpilot.planners.pool_table import PoolTable

            cached = PoolTable(path=Path(self.source), id_name=ROW_ID, ids=pa.array(np.arange(len(self.y))),
                               rows=self.x, space=inputs, features=self.descriptors,
                               feature_names=tuple(self.descriptor_names))
            self.__dict__["_table"] = cached
        return cached

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
    measured: Sequence[str] | None = None,
    descriptors: Sequence[str] | None = None,
) -> BacktestTable:
    """Read a past-experiments CSV into merged candidate rows (see the module docstring)."""
    if direction not in ("minimize", "maximize"):
        raise TableError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    table = read_table(path, header=header, columns=columns)
    warnings: list[str] = []
    if header and all(_is_number(h) for h in table.header):
        warnings.append(f"{table.path}: every cell of the first line ({', '.join(table.header)}) is a number: "
                        "it was taken as the header; if it is data, pass --no-header (header=False)")
    obj_col = _objective_column(table, objective)
    y = table.numeric(obj_col)
    meas_cols = _measured_columns(table, measured or [], obj_col)
    desc_names: list[str] = []
    desc_raw = None
    if descriptors:
        from labpilot.planners.pool_table import read_descriptors

        exclude = [table.header[obj_col]] + [table.header[c] for c in meas_cols]
        desc_names, desc_raw = read_descriptors(table.path, descriptors, exclude=exclude, names=table.header,
                                                header=header, field_name="descriptors")
        if len(desc_raw) != len(table.rows):
            raise TableError(f"{table.path}: {len(desc_raw)} rows of descriptors but {len(table.rows)} rows of data")
        desc_cols = [table.header.index(n) for n in desc_names]
        meas_cols = meas_cols + [c for c in desc_cols if c not in meas_cols]  # neither inputs nor measured
    if inputs:
        in_cols = [table.column_index(c) for c in inputs]
        if obj_col in in_cols:
            raise TableError(f"{table.path}: the objective {table.header[obj_col]!r} cannot also be an input")
        both = sorted(set(in_cols) & set(meas_cols))
        if both:
            raise TableError(f"{table.path}: {[table.header[c] for c in both]} cannot be both inputs and measured")
    else:
        in_cols = []
        for c in range(len(table.header)):
            if c == obj_col or c in meas_cols:
                continue
            if table.is_numeric(c):
                in_cols.append(c)
                continue
            distinct = len({r[c].strip() for r in table.rows})
            if distinct >= 2 and distinct <= max(2, len(table.rows) // 2):
                in_cols.append(c)
            else:
                warnings.append(f"{table.path}: text column {table.header[c]!r} has {distinct} distinct values in "
                                f"{len(table.rows)} rows (an id or a name?): not an input; name it in --inputs to use it")
        if not in_cols:
            raise TableError(f"{table.path}: no numeric input columns (nor categorical ones) besides the objective; columns: {table.header}")
    categorical: dict[int, tuple[str, ...]] = {}
    cols = []
    for j, c in enumerate(in_cols):
        if table.is_numeric(c):
            cols.append(table.numeric(c))
            continue
        cells = [r[c].strip() for r in table.rows]
        choices = tuple(sorted(set(cells)))
        if len(choices) < 2:
            raise TableError(f"{table.path}: column {table.header[c]!r} holds one value ({choices[0]!r}): not an input")
        categorical[j] = choices
        lookup = {v: i for i, v in enumerate(choices)}
        cols.append(np.array([lookup[v] for v in cells], dtype=float))
    x = np.column_stack(cols)
    names = [table.header[c] for c in in_cols]
    uniq, inverse = np.unique(x, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse)
    y_mean = np.bincount(inverse, weights=y) / counts
    d = None
    if desc_raw is not None:
        from labpilot.planners.pool_table import scale_in_place

        d = np.zeros((len(uniq), desc_raw.shape[1]), dtype=np.float32)
        np.add.at(d, inverse, desc_raw)
        d /= counts[:, None].astype(np.float32)
        scale_in_place(d)
        meas_cols = [c for c in meas_cols if table.header[c] not in desc_names]
    z = None
    if meas_cols:
        raw = np.column_stack([table.numeric(c) for c in meas_cols])
        z = np.zeros((len(uniq), raw.shape[1]))
        np.add.at(z, inverse, raw)
        z /= counts[:, None]
    return BacktestTable(
        source=str(table.path), inputs=names, x=uniq, y=y_mean,
        objective=Objective(table.header[obj_col], direction), n_raw=len(y),
        categorical=categorical, measured=z, measured_names=[table.header[c] for c in meas_cols], warnings=warnings,
        descriptors=d, descriptor_names=desc_names,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _measured_columns(table: Any, patterns: Sequence[str], obj_col: int) -> list[int]:
    """Columns named (or matched by fnmatch patterns) as measured descriptors; each pattern must match."""
    out: list[int] = []
    for pat in patterns:
        if any(ch in pat for ch in "*?["):
            hits = [c for c, h in enumerate(table.header) if fnmatchcase(h, pat)]
            if not hits:
                raise TableError(f"{table.path}: measured pattern {pat!r} matches no column; the columns are {table.header}")
        else:
            hits = [table.column_index(pat)]
        out += [c for c in hits if c not in out]
    if obj_col in out:
        raise TableError(f"{table.path}: the objective {table.header[obj_col]!r} cannot also be a measured descriptor")
    for c in out:
        table.numeric(c)  # a measured cell that is not a number is an error naming line and column
    return out


def _objective_column(table: Any, objective: str) -> int:
    try:
        return table.column_index(objective)
    except TableError:
        if objective.strip().isdigit() and int(objective) < len(table.header):
            return int(objective)
        raise


MEASURED_KEY = "measured"


def _trial(table: BacktestTable, space: Space, i: int) -> Trial:
    measured = {MEASURED_KEY: table.measured[i]} if table.measured is not None else {}
    params = space.candidates.point(i) if space.candidates is not None else space.to_point(table.x[i])
    return Trial(params, COMPLETED, {table.objective.name: float(table.y[i])}, measured)


def check_planner(table: BacktestTable, planner: str) -> None:
    """Refuse a planner that cannot run on this table (e.g. ``used`` without measured descriptors)."""
    from labpilot.planners.base import planner_class

    cls = planner_class(planner)  # an unknown name: a PlannerError listing the known ones
    if table.descriptors is not None and not getattr(cls, "plans_pool_rows", False):
        raise PlannerError(f"planner {planner!r} cannot plan over rows modelled by descriptors (--descriptors); "
                           "use bo, mobo, random, uncertainty or range, or drop --descriptors")
    if getattr(cls, "needs_measured", False) and table.measured is None:
        raise PlannerError(
            f"planner {planner!r} models measured descriptors (e.g. an XRD pattern per sample), and this table has "
            "none: name the measured columns with --measured (measured=...); it would otherwise only pick at random"
        )


def simulate(
    table: BacktestTable,
    planner: str,
    budget: int,
    initial: int,
    seed: int,
    repeat: int,
    options: Mapping[str, Any] | None = None,
    priors: Sequence[Any] | None = None,
    timing: list[float] | None = None,
) -> np.ndarray:
    """Row indices picked in one replay (length ``budget``): ``initial`` random rows, then the planner's.

    ``timing``, if given, receives the seconds of each proposal.
    """
    check_planner(table, planner)
    n = len(table.y)
    init_rng = np.random.default_rng([seed & 0xFFFFFFFF, repeat, 7])
    picked = [int(i) for i in init_rng.choice(n, initial, replace=False)]
    space = table.space
    lookup = {tuple(r): i for i, r in enumerate(table.x.tolist())}
    model = make_planner(planner, space, [table.objective], seed=seed + repeat, options=options, priors=priors)
    history = [_trial(table, space, i) for i in picked]
    while len(picked) < budget:
        start = time.perf_counter()
        try:
            proposal = model.propose(history, 1)[0]
        except PlannerError as e:
            raise PlannerError(f"planner {planner!r} after {len(picked)} experiments: {e}") from None
        if timing is not None:
            timing.append(time.perf_counter() - start)
        if space.candidates is not None:
            i = int(proposal.params[ROW_ID])
        else:
            row = tuple(space.to_row(proposal.params).tolist())
            if row not in lookup:
                raise PlannerError(f"planner {planner!r} proposed {proposal.params}, which is not a row of the table")
            i = lookup[row]
        if i in picked:
            raise PlannerError(f"planner {planner!r} proposed row {i} ({proposal.params}) a second time")
        picked.append(i)
        history.append(_trial(table, space, i))
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
    priors: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Replay every planner ``repeats`` times; return the JSON-ready result (see module docstring).

    ``progress``: True prints one line per replay to the current ``sys.stderr``;
    a stream prints there; None or False prints nothing. ``priors`` go to the
    planners that use them.
    """
    from labpilot.planners.base import planner_class

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
    for name in planners:  # refuse before spending minutes on the others
        check_planner(table, name)
    uses: dict[str, bool] = {}
    for name in planners:
        uses[name] = bool(priors) and getattr(planner_class(name), "accepts_priors", False)
    if priors and not any(uses.values()):
        raise PlannerError(f"none of the planners {list(planners)} uses prior data; add 'bo' or drop the priors")
    top = table.top_mask()
    n_top = int(top.sum())
    result: dict[str, Any] = {
        "csv": table.source, "objective": table.objective.name, "direction": table.objective.direction,
        "inputs": table.inputs, "categorical": {table.inputs[j]: list(c) for j, c in table.categorical.items()},
        "measured": table.measured_names, "descriptors": table.descriptor_names,
        "priors": [p.name for p in priors or []],
        "n_rows": n, "n_rows_raw": table.n_raw, "n_top": n_top,
        "top_threshold": float(table.y[top].min() if table.objective.sign > 0 else table.y[top].max()),
        "budget": budget, "repeats": repeats, "initial": initial, "seed": seed,
        "random_expected_fraction": budget / n, "warnings": list(table.warnings), "planners": {},
    }
    for name in planners:
        curves, best, runs = [], [], []
        start = time.perf_counter()
        for r in range(repeats):
            timing: list[float] = []
            picked = simulate(table, name, budget, initial, seed, r, (options or {}).get(name),
                              priors if uses[name] else None, timing)
            found = np.cumsum(top[picked]) / n_top
            curves.append(found)
            best_r = np.maximum.accumulate(table.y[picked] * table.objective.sign) * table.objective.sign
            best.append(best_r)
            runs.append({
                "picked": picked.tolist(), "top_found": int(round(found[-1] * n_top)),
                "top_fraction": float(found[-1]), "best": float(best_r[-1]),
                "enhancement_factor": float(found[-1] / (budget / n)),
                "seconds_per_proposal": float(np.mean(timing)) if timing else 0.0,
            })
            if stream is not None:
                print(
                    f"[backtest] {name}: repeat {r + 1}/{repeats} done, {runs[-1]['top_found']}/{n_top} top rows "
                    f"in {budget} experiments ({time.perf_counter() - start:.1f} s)",
                    file=stream, flush=True,
                )
        c = np.array(curves)
        ef = c[:, -1] / (budget / n)
        per = [r["seconds_per_proposal"] for r in runs]
        result["planners"][name] = {
            "top_fraction": c.mean(axis=0).tolist(),
            "top_fraction_sd": c.std(axis=0, ddof=1).tolist() if repeats > 1 else [0.0] * budget,
            "top_fraction_p10": np.percentile(c, 10, axis=0).tolist(),
            "top_fraction_p90": np.percentile(c, 90, axis=0).tolist(),
            "best_so_far": np.array(best).mean(axis=0).tolist(),
            "enhancement_factor": float(c[:, -1].mean() / (budget / n)),
            "enhancement_factor_sd": float(ef.std(ddof=1)) if repeats > 1 else 0.0,
            "seconds_per_proposal": float(np.mean(per)),
            "seconds": time.perf_counter() - start,
            "uses_priors": uses[name],
            "repeats": runs,
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
