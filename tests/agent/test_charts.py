"""Chart helpers that carry logic: the Pareto front and best-so-far, on hand-made experiments."""

from __future__ import annotations

import numpy as np

from labpilot.agent import charts
from labpilot.agent.store import Experiment


def exp(i: int, status: str = "completed", **scalars: float) -> Experiment:
    return Experiment(id=i, params={"a": 0.1 * i, "b": 1 - 0.1 * i}, status=status, chosen_by="planner", planner="mobo",
                      score=None, reason=None, sample_id=None, error=None, created=float(i), updated=float(i),
                      scalars=dict(scalars))


def test_pareto_front_respects_each_direction() -> None:
    pts = np.array([[1.0, 5.0], [2.0, 4.0], [2.0, 6.0], [0.5, 1.0], [3.0, 3.0]])
    assert charts.pareto_front(pts, ["maximize", "maximize"]).tolist() == [False, False, True, False, True]
    # minimize the second: low is good
    assert charts.pareto_front(pts, ["maximize", "minimize"]).tolist() == [False, False, False, True, True]


def test_best_so_far_follows_the_direction() -> None:
    assert charts.best_so_far([3, 1, 4, 1, 5], "maximize").tolist() == [3, 3, 4, 4, 5]
    assert charts.best_so_far([3, 1, 4, 0.5, 5], "minimize").tolist() == [3, 1, 1, 0.5, 0.5]


def test_pareto_figure_marks_the_front_and_labels_units() -> None:
    exps = [exp(1, u=1.0, impact_strength=5.0), exp(2, u=2.0, impact_strength=6.0), exp(3, u=0.5, impact_strength=1.0),
            exp(4, status="failed")]
    fig = charts.pareto_figure(exps, [{"name": "u", "direction": "maximize"},
                                      {"name": "impact_strength", "direction": "maximize"}])
    ax = fig.axes[0]
    front = next(line for line in ax.get_lines() if line.get_label() == "Pareto front")
    assert front.get_xydata().tolist() == [[2.0, 6.0]]
    assert ax.get_ylabel() == "impact_strength (kJ/m²) (maximize)"
    one = charts.pareto_figure(exps, [{"name": "u", "direction": "maximize"}])
    assert "needs two objectives" in one.axes[0].texts[0].get_text()


def test_parameters_figure_draws_one_line_per_experiment_scaled_to_bounds() -> None:
    exps = [exp(1, m=1.0), exp(2, m=2.0), exp(3, status="approved")]
    params = [{"name": "a", "type": "continuous", "low": 0.0, "high": 1.0},
              {"name": "b", "type": "continuous", "low": 0.0, "high": 2.0}]
    fig = charts.parameters_figure(exps, params, "m")
    lines = [ln for ln in fig.axes[0].get_lines() if list(ln.get_xdata()) == [0, 1]]  # not the axis rules
    assert len(lines) == 3
    ys = sorted(tuple(np.round(ln.get_ydata(), 6)) for ln in lines)
    assert ys[0] == (0.1, 0.45)
