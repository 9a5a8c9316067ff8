"""Pictures of a campaign and of the state machine (matplotlib, PNG)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from labpilot.agent import store as st  # noqa: E402
from labpilot.agent.machine import CampaignMachine  # noqa: E402
from labpilot.agent.store import Store  # noqa: E402
from labpilot.agent.units import campaign_units  # noqa: E402

def plot_campaign(store: Store, out: Path, top: int = 3) -> None:
    """Write ``campaign_figure`` as a PNG."""
    fig = campaign_figure(store, top)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")


def campaign_figure(store: Store, top: int = 3):  # noqa: ANN201 - a matplotlib Figure
    """Every objective per experiment with the best so far (units on the axes); with two or more
    objectives the Pareto front of the first two; the measured curves (XRD patterns, DSC curves)
    of the ``top`` best samples of the first objective."""
    from matplotlib.figure import Figure

    from labpilot.agent.charts import objectives_figure, pareto_figure, patterns_figure

    camp = store.campaign()
    objectives = camp["config"]["objectives"]
    first = objectives[0]
    exps = store.experiments()
    done = [e for e in exps if e.status == st.COMPLETED and first["name"] in e.scalars]
    sign = 1.0 if first["direction"] == "maximize" else -1.0
    ranked = sorted(done, key=lambda e: -sign * e.scalars[first["name"]])[:top]
    items = [(e, store.arrays(e.id)) for e in ranked]
    items = [(e, a) for e, a in items if a]
    both = [e for e in exps if e.status == st.COMPLETED
            and all(o["name"] in e.scalars for o in objectives[:2])] if len(objectives) >= 2 else []
    title = f"{camp['name']}: {len(done)} completed, planner {camp['config']['planner']['name']}"
    n_curves = len({k.split(".")[0] for _, a in items for k in a})
    height = max(3.3 * len(objectives) + 0.8, 3.9 * max(n_curves, 1) + 0.4 * len(items), 5.2 if both else 0)
    panels = 1 + bool(both) + bool(items)
    fig = Figure(figsize=(7.5 * panels, height))
    subs = list(fig.subfigures(1, panels, wspace=0.05)) if panels > 1 else [fig]
    units = campaign_units(camp["config"])
    objectives_figure(exps, objectives, title, fig=subs.pop(0), units=units)
    if both:
        sub = subs.pop(0)
        pareto_figure(exps, objectives, units, fig=sub)
        a, b = objectives[0]["name"], objectives[1]["name"]
        sub.suptitle(f"Pareto front of {a} and {b}: {len(both)} experiments measured both", fontsize=10)
    if items:
        sub = subs.pop(0)
        patterns_figure(items, first["name"], fig=sub, units=units)
        sub.suptitle(f"measured curves of the {len(items)} best samples", fontsize=10)
    return fig


_LAYOUT = {
    "planning": (-1.9, 1.9), "awaiting_approval": (1.9, 1.9), "synthesizing": (2.5, 0.2),
    "measuring": (0.4, -0.8), "learning": (-2.0, -0.4),
    "idle": (-4.6, 1.9), "completed": (-4.6, -0.4),
    "paused": (-1.6, -3.0), "faulted": (1.4, -3.0), "aborted": (4.4, -3.0),
}
_BOX = (-3.1, -1.5, 3.7, 2.6)  # x0, y0, x1, y1 around the working states


def _box_point(x: float, y: float) -> tuple[float, float]:
    """The point of the working-states box nearest to (x, y)."""
    x0, y0, x1, y1 = _BOX
    return min(max(x, x0), x1), min(max(y, y0), y1)


def _arrow(ax, a: tuple[float, float], b: tuple[float, float], label: str, rad: float,  # noqa: ANN001
           shrink: tuple[float, float] = (28, 28), color: str = "#555") -> None:
    ax.annotate("", xy=b, xytext=a, arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.1,
                                                "shrinkA": shrink[0], "shrinkB": shrink[1],
                                                "connectionstyle": f"arc3,rad={rad}"})
    (x0, y0), (x1, y1) = a, b
    mx, my = (x0 + x1) / 2 + rad * (y1 - y0) * 0.5, (y0 + y1) / 2 - rad * (x1 - x0) * 0.5
    ax.text(mx, my, label, fontsize=8, color="#1f4e79", ha="center", va="center",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})


def plot_machine(machine: CampaignMachine, out: Path) -> None:
    """Draw the state machine from its own transitions.

    Moves that leave (or return to) most working states, such as pause, fault,
    abort and resume, are drawn once from the dashed box around the loop.
    """
    from matplotlib.patches import FancyBboxPatch

    from labpilot.agent.machine import WORKING

    states = list(machine.machine.states)
    pos = {s: _LAYOUT.get(s, (3 * math.cos(i), 3 * math.sin(i))) for i, s in enumerate(states)}
    by_trigger: dict[tuple[str, str], set[str]] = {}
    for src, dst, trig in machine.edges():
        by_trigger.setdefault((trig, dst), set()).add(src)
    grouped_out: dict[str, list[str]] = {}  # dest -> triggers from the box
    grouped_in: dict[str, list[str]] = {}  # source -> triggers into the box
    plain: dict[tuple[str, str], list[str]] = {}
    for (trig, dst), srcs in by_trigger.items():
        working_srcs = srcs & set(WORKING)
        if len(working_srcs) >= 3 and dst not in WORKING:
            grouped_out.setdefault(dst, []).append(trig)
            srcs = srcs - working_srcs
        for src in srcs:
            if dst in WORKING and src not in WORKING:
                if trig not in grouped_in.get(src, []):
                    grouped_in.setdefault(src, []).append(trig)
            else:
                plain.setdefault((src, dst), []).append(trig)

    fig, ax = plt.subplots(figsize=(12, 7.5))
    x0, y0, x1, y1 = _BOX
    ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0.1", fc="#f7fbff",
                                ec="#6c8ebf", ls="--", lw=1.2))
    ax.text(x0 + 0.1, y1 - 0.05, "working states (the loop)", fontsize=9, color="#6c8ebf", va="top")
    for (src, dst), trigs in plain.items():
        rad = 0.25 if (dst, src) in plain else 0.1
        _arrow(ax, pos[src], pos[dst], "/".join(sorted(set(trigs))), rad)
    for dst, trigs in grouped_out.items():
        start = _box_point(pos[dst][0] - 0.5, pos[dst][1])
        _arrow(ax, start, pos[dst], "/".join(sorted(set(trigs))) + "\n(from any\nworking state)", 0.0,
               shrink=(2, 24), color="#a33")
    for src, trigs in grouped_in.items():
        end = _box_point(pos[src][0] + 0.7, pos[src][1])
        label = "/".join(sorted(set(trigs))) + ("\n(to where\nit stopped)" if "resume" in trigs else "")
        _arrow(ax, pos[src], end, label, 0.0, shrink=(24, 2), color="#2a7")
    for s, (x, y) in pos.items():
        color = "#c6efce" if s == "completed" else "#ffc7ce" if s in ("aborted", "faulted") else \
            "#fff2cc" if s == "paused" else "#ddebf7"
        ax.text(x, y, s, ha="center", va="center", fontsize=10, fontweight="bold",
                bbox={"boxstyle": "round,pad=0.5", "fc": color, "ec": "#333"})
    ax.set_xlim(-5.6, 5.4)
    ax.set_ylim(-3.5, 3.1)
    ax.axis("off")
    ax.set_title("labpilot campaign state machine (drawn from agent.machine.CampaignMachine)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
