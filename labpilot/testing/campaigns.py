"""The film campaign as TOML text: one builder for the tests and benchmarks that run a small real campaign.

A ``python`` synthesizer (the film model's ``deposit``) makes a virtual film
from three parameters (power, pressure, temperature); what measures it varies
per use (a slow ``command`` simulation, ``python`` probes, a ``manual`` step),
so the measurers are passed in. The model is the script
``campaigns/sim/film_model.py`` of the repository (not installed with
labpilot): its path is a parameter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

#: The film's parameters: name, low, high.
FILM_PARAMETERS: tuple[tuple[str, float, float], ...] = (
    ("power_w", 50.0, 300.0), ("pressure_pa", 0.1, 2.0), ("temperature_c", 20.0, 500.0))


@dataclass(frozen=True)
class InstrumentEntry:
    """One ``[[instruments]]`` entry: its name, driver kind and ``[instruments.options]``."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    address: str = "local"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    """``key`` bare where TOML allows it, else quoted."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """``value`` as a TOML value: a string, bool, number, array or inline table (what a campaign needs)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML value for {type(value).__name__}: {value!r}")


def film_simulation(model: Path, *, delay: float, max_parallel: int, name: str = "simulation", seed: int = 3,
               argv: Sequence[str] | None = None) -> InstrumentEntry:
    """The film model as a ``command`` measurer of hardness (GPa) and roughness (nm).

    Each run takes ``delay`` seconds, ``max_parallel`` at once; ``argv``
    replaces the program (a script that reads the same JSON on stdin).
    """
    program = list(argv) if argv is not None else \
        ["{python}", str(model), "--seed", str(seed), "--delay", str(delay)]
    return InstrumentEntry(name, "command", {"role": "measure", "argv": program,
                                             "scalars": {"hardness": "GPa", "roughness": "nm"},
                                             "max_parallel": max_parallel})


def film_campaign(model: Path, measurers: Sequence[InstrumentEntry], *, budget: int, name: str = "film",
                  seed: int = 3, initial_design: int = 2, parallel: int | None = None,
                  batch_size: int | None = None, planner: str = "random", objectives: Mapping[str, str] | None = None,
                  mode: str | None = None, synthesizer: InstrumentEntry | None = None) -> str:
    """A campaign's TOML: the film model (at ``model``) makes a film, ``measurers`` measure it.

    ``parallel`` (``[execution]``) and ``batch_size`` (``[planner]``) are
    left out when None, so the campaign's defaults hold. ``objectives``:
    name -> ``"maximize"``/``"minimize"``, scalars the measurers declare
    (default: hardness, maximized). ``synthesizer`` replaces the film model's
    ``deposit`` as what makes the sample (a manual step, say).
    """
    top = {"name": name, "seed": seed, "initial_design": initial_design} | ({"mode": mode} if mode else {})
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    if parallel is not None:
        lines += ["[execution]", f"parallel = {parallel}"]
    lines += ["[budget]", f"max_experiments = {budget}", "[planner]", f"name = {toml_value(planner)}"]
    if batch_size is not None:
        lines.append(f"batch_size = {batch_size}")
    for oname, direction in (objectives or {"hardness": "maximize"}).items():
        lines += ["[[objectives]]", f"name = {toml_value(oname)}", f"direction = {toml_value(direction)}"]
    for pname, low, high in FILM_PARAMETERS:
        lines += ["[[parameters]]", f"name = {toml_value(pname)}", 'type = "continuous"', f"low = {low}",
                  f"high = {high}"]
    film = synthesizer or InstrumentEntry("film", "python", {"role": "synthesize", "function": f"{model}:deposit"})
    for inst in (film, *measurers):
        lines += ["[[instruments]]", f"name = {toml_value(inst.name)}", f"kind = {toml_value(inst.kind)}",
                  f"address = {toml_value(inst.address)}", "[instruments.options]"]
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in inst.options.items()]
    return "\n".join(lines) + "\n"


__all__ = ["FILM_PARAMETERS", "InstrumentEntry", "film_campaign", "film_simulation", "toml_value"]
