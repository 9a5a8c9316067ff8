"""Campaign status and CSV export, read straight from the store."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from labpilot.agent import store as st
from labpilot.agent import units
from labpilot.agent.formatting import fmt_params, fmt_value
from labpilot.agent.history import best_experiment
from labpilot.agent.liveness import agent_liveness
from labpilot.agent.loop.progress import pareto_text
from labpilot.agent.loop.recovery import resolve_hint, unknown_outcomes
from labpilot.agent.pareto import front_size
from labpilot.agent.store import Store


def campaign_status(store: Store) -> dict[str, Any]:
    """One JSON-able dict: campaign, state, experiment counts, best result, fault."""
    camp = store.campaign()
    config = camp["config"]
    objective = config["objectives"][0]
    best = best_experiment(store, objective["name"], objective["direction"])
    counts = store.counts()
    fault = store.fault()
    endpoint = store.control_endpoint()
    return {
        "campaign": camp["name"],
        "state": camp["state"],
        "mode": config["mode"],
        "planner": config["planner"]["name"],
        "budget": config["budget"]["max_experiments"],
        "experiments": counts,
        "best": None if best is None else {
            "objective": objective["name"],
            "direction": objective["direction"],
            "value": best.scalars[objective["name"]],
            "experiment": best.id,
            "params": best.params,
            "chosen_by": best.chosen_by,
            "unit": units.unit(objective["name"], units.campaign_units(config)),
        },
        "objectives": [{"name": o["name"], "direction": o["direction"]} for o in config["objectives"]],
        # several objectives: the best of the first alone says little; how many results no other beats does
        "pareto_front": None if len(config["objectives"]) < 2 else front_size(
            (e.scalars for e in store.experiments((st.COMPLETED,))), config["objectives"]),
        "fault": fault,
        "outcome_unknown": unknown_outcomes(store),
        "control_endpoint": endpoint,
        "control_dead": store.control_dead(),
        "updated": camp["updated"],
        "db": store.label,
        "agent": agent_liveness(store),
        "waiting_for_operator": manual_steps(store),
        "parallel": (config.get("execution") or {}).get("parallel", 1),
        "in_flight": in_flight(store),
    }


def in_flight(store: Store) -> list[dict[str, Any]]:
    """Experiments being made or measured: ``{experiment, status, instrument, command_id}`` (the command
    journaled as sent and not yet finished, if one is running)."""

    running = {c["experiment_id"]: c for c in store.commands("sent")}
    out = []
    for e in store.experiments(tuple(s for s in st.IN_FLIGHT if s != st.APPROVED)):
        cmd = running.get(e.id) or {}
        out.append({"experiment": e.id, "status": e.status, "instrument": cmd.get("instrument"),
                    "command_id": cmd.get("id")})
    return out


def manual_steps(store: Store) -> list[dict[str, Any]]:
    """Manual steps (``manual`` instruments) requested and not yet confirmed with ``labpilot done``."""
    from labpilot.drivers.generic.manual import pending_steps

    return [{k: s.get(k) for k in ("experiment", "instrument", "action", "instructions", "values", "requested")}
            for s in pending_steps(store)]


def format_status(s: dict[str, Any]) -> str:
    counts = ", ".join(f"{v} {k}" for k, v in s["experiments"].items() if v)
    lines = [
        f"campaign {s['campaign']!r}: {s['state']} ({s['mode']}, planner {s['planner']})"
        + (f"; {s['agent']['text']}" if s.get("agent") else ""),
        f"  experiments: {counts or 'none yet'} (budget {s['budget']})",
    ]
    if (s.get("parallel") or 1) > 1:
        flying = s.get("in_flight") or []
        where = ", ".join(f"exp {f['experiment']} {f['status']}" + (f" on {f['instrument']}" if f["instrument"] else "")
                          for f in flying)
        lines.append(f"  in flight: {len(flying)} of {s['parallel']} at once" + (f" ({where})" if where else ""))
    if s.get("pareto_front") is not None:
        objectives = ", ".join(f"{o['name']} ({o['direction']})" for o in s.get("objectives") or [])
        lines.append(f"  {pareto_text(s['pareto_front'])}" + (f" of {objectives}" if objectives else ""))
    elif s["best"]:
        b = s["best"]
        u = b.get("unit", units.unit(b["objective"]))  # an older agent's status has no unit: the shared table's
        unit = "" if not u else " (dimensionless)" if u == "1" else f" {u}"
        lines.append(f"  best {b['objective']} = {fmt_value(b['value'], 5)}{unit} (experiment {b['experiment']}: "
                     f"{fmt_params(b['params'])})")
    if s["fault"]:
        f = s["fault"]
        lines.append(f"  FAULT on {f['instrument']}: {f['error']} (experiment {f.get('experiment')})")
    for u in s.get("outcome_unknown") or []:
        lines.append(f"  OUTCOME UNKNOWN: experiment {u['experiment']} ({u['action']} on {u['instrument']}, "
                     f"command {u['command_id']}): {resolve_hint(u)}")
    lines += [format_manual_step(step) for step in s.get("waiting_for_operator") or []]
    if s.get("control_dead") and s.get("control_endpoint"):  # cleared when the run ends
        lines.append(f"  CONTROL ENDPOINT DEAD ({s['control_dead']}): pause/abort cannot reach this run")
    age = time.time() - s["updated"]
    where = f" in {s['db']}" if s.get("db") else ""  # a server URL arrives here with its password redacted
    lines.append(f"  last update {age:.0f}s ago{where}")
    return "\n".join(lines)


def format_manual_step(step: dict[str, Any]) -> str:
    """One line: what a manual step asks for, and the ``labpilot done`` that confirms it."""
    need = "".join(f" --value {n}=NUMBER" for n in step.get("values") or {})
    return (f"  WAITING FOR OPERATOR: experiment {step['experiment']} on {step['instrument']} "
            f"({step['action']}): {step['instructions']}; when done: labpilot done {step['experiment']}{need}")


def export_csv(store: Store, out: Path) -> int:
    """Write one row per experiment: provenance, parameters and scalar results."""
    exps = store.experiments()
    param_names: list[str] = []
    scalar_names: list[str] = []
    for e in exps:
        param_names += [k for k in e.params if k not in param_names]
        scalar_names += [k for k in e.scalars if k not in scalar_names]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["experiment", "status", "chosen_by", "planner", "sample_id", "created", *param_names,
                    *scalar_names, "reason", "error"])
        for e in exps:
            w.writerow([e.id, e.status, e.chosen_by, e.planner or "", e.sample_id or "",
                        time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(e.created)),
                        *[e.params.get(k, "") for k in param_names],
                        *[e.scalars.get(k, "") for k in scalar_names], e.reason or "", e.error or ""])
    return len(exps)
