"""What the runner reports after each finished experiment, and its one-line form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Progress:
    """One finished experiment, as the progress callback sees it."""

    done: int
    budget: int
    experiment_id: int
    chosen_by: str
    params: dict[str, Any]
    value: float | None
    best: float | None
    seconds: float
    status: str
    planning_s: float = 0.0
    """Planning time spent since the previous finished experiment."""
    instrument_s: float = 0.0
    """Time this experiment spent in instrument commands."""
    elapsed_s: float = 0.0
    """Since this run started."""
    eta_s: float | None = None
    """Time left at this run's pace (None until one experiment finished)."""
    in_flight: int | None = None
    """Parallel execution: experiments still being made or measured (None: the sequential loop)."""
    pareto_front: int | None = None
    """Two or more objectives: completed experiments on their Pareto front, shown instead of ``best``
    (None: one objective)."""


def format_progress(p: Progress, objective: str) -> str:
    """``[  3/20] exp 3   planner  Fe=0.700 ... -> moment=1.23  best=1.5  (plan 20.1s, instruments 1.7s; elapsed 1m05s, ETA 6m30s)``.

    With several objectives ``best`` (of the first alone) says little: the line gives the size of
    their Pareto front instead, ``Pareto front 7 points``."""
    params = " ".join(f"{k}={_fmt(v)}" for k, v in p.params.items())
    value = "failed" if p.value is None else f"{objective}={p.value:.4g}"
    if p.pareto_front is not None:
        best = f"  {pareto_text(p.pareto_front)}"
    else:
        best = "" if p.best is None else f"  best={p.best:.4g}"
    eta = "" if p.eta_s is None else f", ETA {duration(p.eta_s)}"
    flight = "" if p.in_flight is None else f"{p.in_flight} in flight; "
    times = (f"plan {p.planning_s:.1f}s, instruments {p.instrument_s:.1f}s; "
             f"{flight}elapsed {duration(p.elapsed_s)}{eta}")
    return f"[{p.done:>3}/{p.budget}] exp {p.experiment_id:<3} {p.chosen_by:<8} {params} -> {value}{best}  ({times})"


def pareto_text(n: int) -> str:
    """``Pareto front 7 points`` (``1 point``)."""
    return f"Pareto front {n} point{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)
