"""``labpilot report``: one self-contained HTML file on what a campaign did (the morning after).

What ran (campaign, planner, mode, when, how long), the best results per
objective with units, every fault and how it ended (who resumed or aborted,
when), every operator action with who made it, a timeline of instrument
use, the plots, and every experiment. Images are inline PNG (``data:``
URIs) and the style sheet is inline, so the file can be mailed or opened
offline.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from labpilot.agent import charts
from labpilot.agent import store as st
from labpilot.agent.formatting import fmt_params, fmt_value
from labpilot.agent.store import Store
from labpilot.agent.units import campaign_units, label
from labpilot.agent.web import views

TEMPLATES = Path(__file__).resolve().parent / "web" / "templates"


def _png(fig: Any) -> str:
    return "data:image/png;base64," + base64.b64encode(charts.to_png(fig, dpi=100)).decode("ascii")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def best_table(exps: list[st.Experiment], objective: dict[str, Any], n: int = 5,
               units: dict[str, str] | None = None) -> list[dict[str, Any]]:
    name = objective["name"]
    sign = 1 if objective.get("direction", "maximize") == "maximize" else -1
    done = [e for e in exps if e.status == st.COMPLETED and name in e.scalars]
    ranked = sorted(done, key=lambda e: -sign * e.scalars[name])[:n]
    return [{"id": e.id, "value": fmt_value(e.scalars[name], 5), "params": fmt_params(e.params),
             "chosen_by": e.chosen_by, "others": ", ".join(f"{label(k, units)}={fmt_value(v)}" for k, v in e.scalars.items()
                                                           if k != name)} for e in ranked]


def faults(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every fault, and how it ended: the resume or abort that followed (and who asked), or 'still faulted'."""
    out = []
    for i, ev in enumerate(events):
        if ev["kind"] != "fault":
            continue
        d = ev["data"]
        ended, by = "still faulted", ""
        for later in events[i + 1:]:
            if later["kind"] == "operator_action" and later["data"].get("ok") and \
                    later["data"].get("cmd") in ("resume", "abort"):
                by = f"{later['data']['cmd']} by {later['data'].get('actor', 'unknown')} at {views.when(later['ts'])}"
            if later["kind"] == "state" and later["data"].get("from") == "faulted":
                ended = f"{later['data'].get('to')} at {views.when(later['ts'])}" + (f" ({by})" if by else "")
                break
            if later["kind"] == "fault":
                break
        out.append({"when": views.when(ev["ts"]), "instrument": d.get("instrument"), "error": d.get("error"),
                    "experiment": d.get("experiment"), "ended": ended})
    return out


def operator_actions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for ev in events:
        if ev["kind"] != "operator_action":
            continue
        d = ev["data"]
        args = {k: v for k, v in (d.get("args") or {}).items() if v is not None}
        rows.append({"when": views.when(ev["ts"]), "who": d.get("actor", "unknown"), "cmd": d.get("cmd"),
                     "args": ", ".join(f"{k}={v}" for k, v in args.items()), "ok": d.get("ok"),
                     "error": d.get("error") or ""})
    return rows


def instrument_use(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for c in commands:
        r = rows.setdefault(c["instrument"], {"instrument": c["instrument"], "commands": 0, "failed": 0,
                                              "unfinished": 0, "busy_s": 0.0})
        r["commands"] += 1
        r["failed"] += c["status"] == "failed"
        r["unfinished"] += c["finished"] is None
        if c["finished"] is not None:
            r["busy_s"] += c["finished"] - c["sent"]
    return [{**r, "busy": _duration(r["busy_s"])} for r in rows.values()]


def build_report(store: Store) -> str:
    """The report as one HTML string."""
    camp = store.campaign()
    cfg = camp["config"]
    s = views.summary(store)
    exps = store.experiments()
    events = store.events()
    commands = store.commands()
    objectives = cfg["objectives"]
    units = campaign_units(cfg)
    first = objectives[0]
    sign = 1 if first["direction"] == "maximize" else -1
    done = [e for e in exps if e.status == st.COMPLETED and first["name"] in e.scalars]
    top = sorted(done, key=lambda e: -sign * e.scalars[first["name"]])[:3]
    plots = {"objectives": _png(charts.objectives_figure(exps, objectives, units=units)),
             "parameters": _png(charts.parameters_figure(exps, cfg["parameters"], first["name"], units)),
             "timeline": _png(charts.timeline_figure(commands, t0=camp["created"]))}
    items = [(e, store.arrays(e.id)) for e in top]
    if any(a for _, a in items):
        plots["patterns"] = _png(charts.patterns_figure([(e, a) for e, a in items if a], first["name"], units=units))
    if len(objectives) >= 2:
        plots["pareto"] = _png(charts.pareto_figure(exps, objectives, units))
    started = min((e["ts"] for e in events), default=camp["created"])
    ended = max((e["ts"] for e in events), default=camp["updated"])
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    css = (TEMPLATES.parent / "static" / "style.css").read_text(encoding="utf-8")
    return env.get_template("report.html").render(
        s=s, cfg=cfg, css=css, plots=plots,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        started=views.when(started), ended=views.when(ended), duration=_duration(ended - started),
        best=[{"label": label(o["name"], units), "direction": o["direction"], "rows": best_table(exps, o, units=units)}
              for o in objectives],
        faults=faults(events), actions=operator_actions(events), use=instrument_use(commands),
        exps=views.experiments(store), n_events=len(events),
    )


def write_report(store: Store, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(store), encoding="utf-8")
    return out
