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


def format_progress(p: Progress, objective: str) -> str:
    """``[  3/20] exp 3   planner  Fe=0.700 ... -> moment=1.23  best=1.5  (0.8s)``."""
    params = " ".join(f"{k}={_fmt(v)}" for k, v in p.params.items())
    value = "failed" if p.value is None else f"{objective}={p.value:.4g}"
    best = "" if p.best is None else f"  best={p.best:.4g}"
    return f"[{p.done:>3}/{p.budget}] exp {p.experiment_id:<3} {p.chosen_by:<8} {params} -> {value}{best}  ({p.seconds:.1f}s)"


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)
