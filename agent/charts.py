"""Figures of a campaign, built from plain data (no store, no pyplot state).

Every function returns a ``matplotlib.figure.Figure`` made without pyplot,
so the dashboard can draw in several server threads at once; ``to_svg`` and
``to_png`` render one. ``labpilot plot``, the dashboard and ``labpilot report``
draw the same figures:

* ``objectives_figure``: each objective per experiment (in the order measured)
  with the best so far, axes in the objective's unit, integer experiment ticks.
* ``patterns_figure``: measured curves of some experiments (XRD patterns,
  DSC heat-flow curves...), one panel per instrument, offset traces, legend
  below the axes so it never covers a trace.
* ``parameters_figure``: parallel coordinates of every experiment's
  parameters, coloured by the first objective.
* ``pareto_figure``: two objectives against each other with the
  non-dominated front.
* ``timeline_figure``: when each instrument was busy (from the command journal).
"""

from __future__ import annotations

import io
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from labpilot.agent.formatting import fmt_params, fmt_value
from labpilot.agent.pareto import pareto_front
from labpilot.agent.store import COMPLETED, FAILED, Experiment
from labpilot.agent.units import AXES, label

COLORS = {"initial": "#7f7f7f", "planner": "#1f77b4", "operator": "#d62728"}


def to_svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _empty(text: str, size: tuple[float, float] = (7, 2.2)) -> Figure:
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#555")
    ax.axis("off")
    return fig


def finished(exps: Sequence[Experiment]) -> list[Experiment]:
    """Completed and failed experiments, in the order they finished (their position is 'experiment #')."""
    return sorted((e for e in exps if e.status in (COMPLETED, FAILED)), key=lambda e: (e.updated, e.id))


def best_so_far(values: Sequence[float], direction: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.maximum.accumulate(v) if direction == "maximize" else np.minimum.accumulate(v)


def objectives_figure(exps: Sequence[Experiment], objectives: Sequence[Mapping[str, Any]], title: str = "",
                      fig: Any = None, units: Mapping[str, str] | None = None) -> Figure:
    """One panel per objective: values per experiment, who chose each, best so far (``units``: as in
    ``pareto_figure``)."""
    done = finished(exps)
    if not done:
        return _empty("no experiment has finished yet")
    order = {e.id: i + 1 for i, e in enumerate(done)}
    n = len(objectives)
    fig = fig if fig is not None else Figure(figsize=(7.5, 3.3 * n + 0.6))
    axes = fig.subplots(n, 1, squeeze=False, sharex=True)[:, 0]
    for ax, obj in zip(axes, objectives):
        name, direction = obj["name"], obj.get("direction", "maximize")
        ok = [e for e in done if e.status == COMPLETED and name in e.scalars]
        for who, color in COLORS.items():
            pts = [(order[e.id], e.scalars[name]) for e in ok if e.chosen_by == who]
            if pts:
                xs, ys = zip(*pts)
                ax.scatter(xs, ys, s=30, color=color, label=f"chosen by {who}", zorder=3)
        bad = [order[e.id] for e in done if e not in ok]
        if ok:
            xs = [order[e.id] for e in ok]
            best = best_so_far([e.scalars[name] for e in ok], direction)
            ax.step(xs, best, where="post", color="#ff7f0e", lw=2, label="best so far", zorder=2)
            b = ok[int(np.argmax(best == best[-1]))] if len(ok) else None
            if b is not None:
                right_half = order[b.id] > len(done) / 2
                ax.annotate(f"best {fmt_value(b.scalars[name])} (exp {b.id})", (order[b.id], b.scalars[name]),
                            textcoords="offset points", xytext=(-8 if right_half else 8, -14 if direction == "maximize" else 8),
                            ha="right" if right_half else "left", fontsize=8, color="#b35900")
        if bad:
            y0 = min((e.scalars[name] for e in ok), default=0.0)
            ax.scatter(bad, [y0] * len(bad), marker="x", color="black", s=40, label="failed", zorder=3)
        ax.set_ylabel(f"{label(name, units)}\n({direction})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlim(0.5, len(done) + 0.5)
    if len(done) <= 20:  # few experiments: a tick at each (the locator would put some between)
        axes[-1].set_xticks(range(1, len(done) + 1))
    axes[-1].set_xlabel("experiment (in the order finished)")
    if title:
        axes[0].set_title(title, fontsize=10)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.6 / (3.3 * n + 0.6) + 0.1, hspace=0.15)
    return fig


def curves_of(arrays: Mapping[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray, list[tuple[str, np.ndarray]]]]:
    """Group ``instrument.name`` arrays into curves: instrument -> (x name, x, [(y name, y)])."""
    by_inst: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        inst, _, name = key.partition(".")
        by_inst.setdefault(inst, {})[name] = np.asarray(arr)
    out = {}
    for inst, named in by_inst.items():
        xname = next((a for a in AXES if a in named), None)
        ys = [(k, v) for k, v in named.items() if k != xname and v.ndim == 1]
        if not ys:
            continue
        x = named[xname] if xname else np.arange(len(ys[0][1]), dtype=float)
        out[inst] = (xname or "index", x, ys)
    return out


def patterns_figure(items: Sequence[tuple[Experiment, Mapping[str, np.ndarray]]], objective: str | None = None,
                    fig: Any = None, units: Mapping[str, str] | None = None) -> Figure:
    """Measured curves of the given experiments, one panel per instrument, traces offset upwards
    (``units``: as in ``pareto_figure``)."""
    panels: dict[str, list[tuple[Experiment, str, np.ndarray, str, np.ndarray]]] = {}
    for e, arrays in items:
        for inst, (xname, x, ys) in curves_of(arrays).items():
            for yname, y in ys:
                panels.setdefault(f"{inst}.{yname}", []).append((e, xname, x, yname, y))
    if not panels:
        return _empty("no measured curves (patterns) for these experiments")
    fig = fig if fig is not None else Figure(figsize=(7.5, 3.6 * len(panels) + 0.3 * len(items)))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (key, traces) in zip(axes, panels.items()):
        offset = 0.0
        for e, xname, x, yname, y in traces:
            val = f", {objective}={fmt_value(e.scalars[objective])}" if objective and objective in e.scalars else ""
            ax.plot(x, y + offset, lw=0.8, label=f"exp {e.id}{val}: {fmt_params(e.params, 3)}")
            span = float(np.nanmax(y) - np.nanmin(y)) if len(y) else 0.0
            offset += span * 1.1 if len(traces) > 1 else 0.0
        inst = key.split(".")[0]
        ax.set_xlabel(label(f"{inst}.{traces[0][1]}", units).partition(".")[2])  # the unit this instrument declared
        ax.set_ylabel(label(key, units).partition(".")[2] + (" (offset)" if len(traces) > 1 else ""))
        ax.set_title(f"{key.split('.')[0]}: {traces[0][3]}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.18), frameon=False, ncol=1)
    fig.subplots_adjust(hspace=0.9)
    return fig


def parameters_figure(exps: Sequence[Experiment], parameters: Sequence[Mapping[str, Any]], objective: str | None,
                      units: Mapping[str, str] | None = None) -> Figure:
    """Parallel coordinates: one line per experiment across every numeric parameter, coloured by the objective
    (``units``: as in ``pareto_figure``)."""
    numeric = [p for p in parameters if p.get("type") in ("continuous", "integer")]
    shown = [e for e in exps if e.status not in ("rejected",)]
    if not numeric or not shown:
        return _empty("no experiments to show yet")
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot()
    xs = np.arange(len(numeric))
    vals = [e.scalars.get(objective) if objective else None for e in shown]
    known = [v for v in vals if v is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    norm = matplotlib.colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)
    for e, v in zip(shown, vals):
        ys = [(float(e.params.get(p["name"], np.nan)) - p["low"]) / ((p["high"] - p["low"]) or 1.0) for p in numeric]
        if v is None:
            ax.plot(xs, ys, color="#bbbbbb", lw=0.8, ls="--", zorder=1)
        else:
            ax.plot(xs, ys, color=cmap(norm(v)), lw=1.2, alpha=0.85, zorder=2)
    ax.set_xticks(xs, [f"{p['name']}\n[{fmt_value(p['low'])}, {fmt_value(p['high'])}]" for p in numeric], fontsize=8)
    ax.set_ylim(-0.03, 1.03)
    ax.set_yticks([0, 0.5, 1], ["low", "mid", "high"])
    for x in xs:
        ax.axvline(x, color="#999", lw=0.6)
    ax.set_title("explored parameters (grey dashed: not measured yet or failed)", fontsize=10)
    if objective:
        sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax, label=label(objective, units), pad=0.02)
    return fig


def pareto_figure(exps: Sequence[Experiment], objectives: Sequence[Mapping[str, Any]],
                  units: Mapping[str, str] | None = None, fig: Any = None) -> Figure:
    """The first two objectives against each other; the Pareto front highlighted.

    ``units`` (quantity -> unit, as the measuring instruments declare them:
    ``units.campaign_units``) labels the axes; without it the shared units table does."""
    if len(objectives) < 2:
        return _empty("a Pareto front needs two objectives; this campaign has one")
    a, b = objectives[0], objectives[1]
    ok = [e for e in exps if e.status == COMPLETED and a["name"] in e.scalars and b["name"] in e.scalars]
    if not ok:
        return _empty("no experiment has measured both objectives yet")
    pts = np.array([[e.scalars[a["name"]], e.scalars[b["name"]]] for e in ok])
    front = pareto_front(pts, [a.get("direction", "maximize"), b.get("direction", "maximize")])
    fig = fig if fig is not None else Figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot()
    ax.scatter(pts[~front, 0], pts[~front, 1], s=26, color="#9ab", label="dominated")
    fp = pts[front][np.argsort(pts[front][:, 0])]
    ax.plot(fp[:, 0], fp[:, 1], "o-", color="#d62728", label="Pareto front")
    for e, is_front in zip(ok, front):
        if is_front:
            ax.annotate(str(e.id), (e.scalars[a["name"]], e.scalars[b["name"]]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    ax.set_xlabel(f"{label(a['name'], units)} ({a.get('direction', 'maximize')})")
    ax.set_ylabel(f"{label(b['name'], units)} ({b.get('direction', 'maximize')})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def timeline_figure(commands: Sequence[Mapping[str, Any]], t0: float | None = None) -> Figure:
    """When each instrument was busy: one bar per command (red: failed, hatched: never finished)."""
    if not commands:
        return _empty("no instrument commands yet")
    insts = sorted({c["instrument"] for c in commands})
    start = t0 if t0 is not None else min(c["sent"] for c in commands)
    end = max((c["finished"] or c["sent"]) for c in commands)
    fig = Figure(figsize=(7.5, 0.6 * len(insts) + 1.4))
    ax = fig.add_subplot()
    for row, inst in enumerate(insts):
        for c in (c for c in commands if c["instrument"] == inst):
            s = (c["sent"] - start) / 60
            w = (((c["finished"] or end) - c["sent"]) / 60) or 1e-3
            color = {"done": "#2ca02c", "failed": "#d62728"}.get(c["status"], "#ffbf00")
            ax.barh(row, w, left=s, height=0.6, color=color, hatch=None if c["finished"] else "//",
                    edgecolor="#333", lw=0.3)
    ax.set_yticks(range(len(insts)), insts)
    ax.set_xlabel("minutes since the first command (green: done, red: failed, yellow: unfinished)")
    ax.grid(axis="x", alpha=0.3)
    return fig
