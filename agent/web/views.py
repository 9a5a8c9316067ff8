"""What the dashboard's pages show, read from a campaign store as plain dicts.

Kept apart from the web framework so that ``labpilot report`` and the
tests read the same things the page shows.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from labpilot.agent import store as st
from labpilot.agent.formatting import fmt_params, fmt_value
from labpilot.agent.history import best_experiment
from labpilot.agent.loop.progress import pareto_text
from labpilot.agent.report import campaign_status
from labpilot.agent.store import Store
from labpilot.agent.units import campaign_units, label

#: Events that are operator actions (journaled by the desk with who made them).
OPERATOR_KINDS = ("operator_action",)


def when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def summary(store: Store) -> dict[str, Any]:
    """The campaign's status plus what the page needs to draw it."""
    s = campaign_status(store)
    camp = store.campaign()
    cfg = camp["config"]
    units = campaign_units(cfg)
    counts = s["experiments"]
    done = counts.get(st.COMPLETED, 0) + counts.get(st.FAILED, 0)
    s.update({
        "uid": camp["uid"],
        "created": when(camp["created"]),
        "updated_at": when(camp["updated"]),
        "done": done,
        "progress_pct": min(100, round(100 * done / max(1, s["budget"]))),
        "objectives": cfg["objectives"],
        "objective_labels": [label(o["name"], units) for o in cfg["objectives"]],
        "parameters": cfg["parameters"],
        "description": cfg.get("description", ""),
        "instruments": [(i["name"], i["kind"]) for i in cfg["instruments"]],
        "best_text": None if not s["best"] else
        f"{label(s['best']['objective'], units)} = {fmt_value(s['best']['value'], 5)} "
        f"(experiment {s['best']['experiment']}: {fmt_params(s['best']['params'])})",
        "best_each": [],
        "seq": last_seq(store),
        # what waits for an operator at the lab: outcomes an instrument cannot tell, manual steps
        "operator_waits": operator_waits(s),
    })
    if s.get("pareto_front") is not None:  # several objectives: the best of the first alone says little
        s["best_each"] = best_each(store, cfg["objectives"], units)
        s["pareto_text"] = pareto_text(s["pareto_front"])
        s["best_text"] = "; ".join(f"{b['label']} = {b['value']} (experiment {b['experiment']})"
                                   for b in s["best_each"]) + f"; {s['pareto_text']}" if s["best_each"] else None
    return s


def best_each(store: Store, objectives: list[dict[str, Any]], units: dict[str, str]) -> list[dict[str, Any]]:
    """The best completed result of each objective (in its direction), labelled with its unit."""
    out = []
    for o in objectives:
        best = best_experiment(store, o["name"], o["direction"])
        if best is not None:
            out.append({"objective": o["name"], "label": label(o["name"], units), "direction": o["direction"],
                        "value": fmt_value(best.scalars[o["name"]], 5), "experiment": best.id})
    return out


def operator_waits(s: dict[str, Any]) -> list[str]:
    """One line per unknown outcome (``labpilot resolve``) and per manual step (``labpilot done``), as status says."""
    from labpilot.agent.loop.recovery import resolve_hint
    from labpilot.agent.report import format_manual_step

    lines = [f"OUTCOME UNKNOWN: experiment {u['experiment']} ({u['action']} on {u['instrument']}, "
             f"command {u['command_id']}): {resolve_hint(u)}" for u in s.get("outcome_unknown") or []]
    return lines + [format_manual_step(m).strip() for m in s.get("waiting_for_operator") or []]


def last_seq(store: Store) -> int:
    """The newest journal entry: the page's version (anything that changes writes an event)."""
    return store.last_event_seq()


def queue(store: Store) -> list[dict[str, Any]]:
    """Proposals awaiting review and approved ones not started, with what the planner knew."""
    cfg = store.campaign()["config"]
    objectives, units = [o["name"] for o in cfg["objectives"]], campaign_units(cfg)
    out = []
    for e in store.experiments((st.AWAITING_APPROVAL, st.APPROVED)):
        pred = getattr(e, "predicted", None) or {}
        out.append({
            "id": e.id, "status": e.status, "chosen_by": e.chosen_by, "planner": e.planner or "",
            "params": fmt_params(e.params), "raw_params": e.params,
            "predicted": [
                {"name": label(o, units), "mean": fmt_value(pred[o][0]), "std": fmt_value(pred[o][1], 2)}
                for o in objectives if o in pred
            ],
            "score": None if e.score is None else fmt_value(e.score, 3),
            "reason": e.reason or "", "created": when(e.created),
        })
    return out


def experiments(store: Store) -> list[dict[str, Any]]:
    """Every experiment, newest first, with its results in units."""
    units = campaign_units(store.campaign()["config"])
    rows = []
    for e in reversed(store.experiments()):
        rows.append({
            "id": e.id, "status": e.status, "chosen_by": e.chosen_by, "planner": e.planner or "",
            "params": fmt_params(e.params),
            "results": ", ".join(f"{label(k, units)}={fmt_value(v)}" for k, v in e.scalars.items()),
            "error": e.error or "", "reason": e.reason or "", "updated": when(e.updated),
        })
    return rows


def _describe(ev: dict[str, Any], units: dict[str, str] | None = None) -> str:
    d = ev["data"]
    kind = ev["kind"]
    if kind == "state":
        return f"{d.get('from')} → {d.get('to')} ({d.get('trigger', '')})"
    if kind == "operator_action":
        error = str(d.get("error"))
        outcome = "ok" if d.get("ok") else error if error.startswith("refused") else f"refused: {error}"
        args = {k: v for k, v in (d.get("args") or {}).items() if k != "actor"}
        return f"{d.get('cmd')} {json.dumps(args) if args else ''} by {d.get('actor') or 'unknown'}: {outcome}"
    if kind == "measured":
        inst = d.get("instrument")  # the unit this instrument declared, by its qualified name
        return f"{inst}: " + ", ".join(f"{label(f'{inst}.{k}', units).partition('.')[2]}={fmt_value(v)}"
                                       for k, v in (d.get("scalars") or {}).items())
    if kind == "fault":
        return f"FAULT on {d.get('instrument')}: {d.get('error')}"
    if kind == "planned":
        return f"planner {d.get('planner')} proposed {d.get('k')} in {d.get('seconds')} s"
    text = json.dumps(d, default=str)
    return text if len(text) <= 240 else text[:237] + "..."


def journal(store: Store, kind: str | None = None, experiment: int | None = None, since: float | None = None,
            text: str | None = None, limit: int = 200) -> dict[str, Any]:
    """The newest ``limit`` journal entries matching the filters, newest first."""
    events = store.events(kind=kind or None)
    if experiment is not None:
        events = [e for e in events if e["experiment_id"] == experiment]
    if since is not None:
        events = [e for e in events if e["ts"] >= since]
    units = campaign_units(store.campaign()["config"])
    rows = [{"seq": e["seq"], "ts": when(e["ts"]), "kind": e["kind"], "experiment": e["experiment_id"],
             "text": _describe(e, units)} for e in events]
    if text:
        rows = [r for r in rows if text.lower() in (r["text"] + r["kind"]).lower()]
    return {"rows": rows[::-1][:limit], "total": len(rows), "kinds": store.event_kinds()}
