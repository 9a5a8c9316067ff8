"""What is installed: every instrument kind and planner, described from its own class.

``describe()`` is what ``labpilot plugins [--json]`` prints: for each
instrument kind its role, the scalars and arrays it measures with units (a
generic kind, ``role_from_options``: "from options", each instrument's own), the
safety limits it enforces, its options (the JSON schema of its ``Options``
model), whether it can reconcile command ids, whether it has a simulator,
and the distribution it comes from; for each planner its class and, when
asked (``planner_options=True``, which imports the planners and so torch),
its ``Options`` model if it has one. A plugin that fails to load is listed
with its one-line error instead of stopping the listing.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from labpilot import registry
from labpilot.errors import PluginError


def _distribution(entry: registry.Entry) -> dict[str, str | None]:
    name = entry.distribution.removesuffix(" (source tree)")
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        version = None
    return {"name": entry.distribution, "version": version}


def options_schema(model: Any) -> dict[str, Any] | None:
    """``{field: {type, default, bounds...}}`` from a pydantic model's JSON schema (None without a model)."""
    if model is None or not hasattr(model, "model_json_schema"):
        return None
    schema = model.model_json_schema()
    out = {}
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        if "anyOf" in prop:  # Optional[X]: name the types
            prop["type"] = " | ".join(str(p.get("type", p.get("$ref", "?"))) for p in prop.pop("anyOf"))
        prop["required"] = name in schema.get("required", [])
        out[name] = prop
    return out


def describe_driver(kind: str) -> dict[str, Any]:
    """One instrument kind, from its driver class (its simulator is not imported)."""
    entry = registry.DRIVERS.entry(kind)
    out: dict[str, Any] = {"kind": kind, "target": entry.target, "distribution": _distribution(entry)}
    try:
        cls = registry.driver_class(kind)
        sim = registry.simulator_target(kind)
    except PluginError as exc:
        out["error"] = str(exc)
        return out
    from_options = bool(getattr(cls, "role_from_options", False))  # generic kinds: each instrument says
    out.update(
        role="from options" if from_options else cls.role,
        role_from_options=from_options,
        quantities_from_options=from_options or _describes_itself(cls),
        scalars=dict(getattr(cls, "scalars", {})),
        arrays=dict(getattr(cls, "arrays", {})),
        axes=list(getattr(cls, "axes", ())),
        limits=list(getattr(cls, "known_limits", ())),
        options=options_schema(getattr(cls, "Options", None)),
        can_reconcile=bool(getattr(cls, "can_reconcile", False)),
        simulator=sim,
        has_simulator=sim is not None,
        dry_run=_dry_run_stand_in(cls, sim),
        error=None,
    )
    return out


def _dry_run_stand_in(cls: type, sim: str | None) -> str:
    """What stands in for this kind in a dry run: its simulator, one its options name, or itself."""
    from labpilot.drivers.base import DriverBase

    if getattr(cls, "dry_run_as_is", False):
        return "runs as configured (a program, a model or an operator stand-in)"
    if sim is not None:
        return f"simulator {sim}"
    if getattr(cls.stand_in, "__func__", None) is not DriverBase.stand_in.__func__:
        return "the built-in simulator its options.simulator names"
    return "none (a dry run cannot stand in for it)"


def describe_planner(name: str, *, load: bool) -> dict[str, Any]:
    """One planner; its options only when ``load`` (importing a GP planner imports torch)."""
    entry = registry.PLANNERS.entry(name)
    out: dict[str, Any] = {"name": name, "target": entry.target, "distribution": _distribution(entry),
                           "options": None, "error": None}
    if load:
        try:
            cls = registry.planner_class(name)
        except PluginError as exc:
            out["error"] = str(exc)
            return out
        out["options"] = options_schema(getattr(cls, "Options", None))
        doc = (cls.__doc__ or "").strip().splitlines()
        out["summary"] = doc[0] if doc else ""
    return out


def describe(*, planner_options: bool = False) -> dict[str, Any]:
    """Every installed instrument kind and planner (the ``labpilot plugins --json`` object)."""
    return {
        "instruments": [describe_driver(k) for k in registry.instrument_kinds()],
        "planners": [describe_planner(n, load=planner_options) for n in registry.PLANNERS.names()],
    }


def _options_line(options: dict[str, Any] | None) -> str:
    if not options:
        return "-"
    parts = []
    for name, prop in options.items():
        if prop.get("required"):
            parts.append(f"{name} (required)")
        else:
            parts.append(f"{name}={prop.get('default')!r}")
    return ", ".join(parts)


def _describes_itself(cls: type) -> bool:
    """Whether ``cls.for_options`` is its own (a generic kind: each configured instrument declares its quantities)."""
    from labpilot.drivers.base import DriverBase

    own = getattr(getattr(cls, "for_options", None), "__func__", None)
    return own is not None and own is not DriverBase.for_options.__func__


def format_text(info: dict[str, Any]) -> str:
    """The human-readable listing."""
    lines = ["instrument kinds:"]
    for d in info["instruments"]:
        dist = d["distribution"]
        origin = f"{dist['name']} {dist['version']}" if dist["version"] else dist["name"]
        if d.get("error"):
            lines.append(f"  {d['kind']}  [{origin}]  cannot be loaded: {d['error']}")
            continue
        measured = [f"{n} [{u}]" for n, u in {**d["scalars"], **d["arrays"]}.items()]
        if d.get("role_from_options"):
            role, measures = "role and quantities from options", "options.scalars, options.arrays (with units)"
        elif d.get("quantities_from_options"):  # folder: always measures, what it reads is configured
            role, measures = d["role"], "options.scalars, options.arrays (with units)"
        else:
            role, measures = d["role"], ", ".join(measured) or "-"
        lines += [
            f"  {d['kind']}  {role}  [{origin}]  {d['target']}",
            f"    measures: {measures}" + (f"  (axes: {', '.join(d['axes'])})" if d["axes"] else ""),
            f"    limits: {', '.join(d['limits']) or '-'}",
            f"    options: {_options_line(d['options'])}",
            f"    reconciles command ids: {'yes' if d['can_reconcile'] else 'no'}; "
            f"dry run: {d['dry_run']}",
        ]
    lines.append("planners:")
    for p in info["planners"]:
        dist = p["distribution"]
        origin = f"{dist['name']} {dist['version']}" if dist["version"] else dist["name"]
        if p.get("error"):
            lines.append(f"  {p['name']}  [{origin}]  cannot be loaded: {p['error']}")
            continue
        lines.append(f"  {p['name']}  [{origin}]  {p['target']}" + (f"  {p['summary']}" if p.get("summary") else ""))
        if "summary" in p:
            lines.append(f"    options: {_options_line(p['options'])}")
    if not any("summary" in p for p in info["planners"]):
        lines.append("  (planner options: labpilot plugins --planner-options; imports the planners, torch included)")
    return "\n".join(lines)


__all__ = ["describe", "describe_driver", "describe_planner", "format_text", "options_schema"]
