"""A toy thin-film simulation: the instrument of ``campaigns/simulation_loop.toml``.

Two entry points, one hidden truth:

- ``deposit(params) -> dict`` (the ``python`` synthesizer): builds the virtual
  film, deterministically (its id and grain size follow from the parameters);
- ``python film_model.py [--seed N] [--noise SD] [--fail-rate P] [--delay S]`` (the
  ``command`` measurer): reads ``{"command_id", "params", ...}`` as JSON on
  stdin and prints ``{"hardness": GPa, "roughness": nm}`` as JSON on stdout,
  with Gaussian noise seeded by ``--seed`` and the command id (the same
  command gives the same answer; another run of the same film another draw).
  With ``--fail-rate`` a run fails now and then (exit code 3, a message on
  stderr), as a simulation code does. ``--delay`` makes each run take that
  many seconds (a slow code, for the parallel-execution tests and benchmark).

Standard library only, so any Python runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from typing import Any


def _grain_nm(power_w: float, temperature_c: float) -> float:
    """Grain size grows with substrate temperature, shrinks with deposition power."""
    return 5.0 + 40.0 * (temperature_c / 500.0) ** 1.5 / (1.0 + power_w / 400.0)


def deposit(params: dict[str, Any]) -> dict[str, Any]:
    """The virtual film made with ``params``: an id and its structure (no noise)."""
    power, pressure, temp = float(params["power_w"]), float(params["pressure_pa"]), float(params["temperature_c"])
    key = json.dumps([round(power, 9), round(pressure, 9), round(temp, 9)])
    return {"sample_id": "film-" + hashlib.sha256(key.encode()).hexdigest()[:10],
            "grain_nm": _grain_nm(power, temp), "density": 1.0 - 0.08 * pressure / (1.0 + pressure)}


def truth(params: dict[str, Any]) -> dict[str, float]:
    """The noise-free properties: Hall-Petch hardness with a density penalty; roughness from grains."""
    power, pressure, temp = float(params["power_w"]), float(params["pressure_pa"]), float(params["temperature_c"])
    grain = _grain_nm(power, temp)
    density = 1.0 - 0.08 * pressure / (1.0 + pressure)
    hall_petch = 6.0 + 14.0 / math.sqrt(grain)          # smaller grains are harder...
    inverse = 4.0 * math.exp(-grain / 4.0)              # ...until they are too small (inverse Hall-Petch)
    hardness = (hall_petch - inverse) * density ** 6 * (1.0 - 0.3 * math.exp(-power / 60.0))
    roughness = 0.2 + 0.04 * grain + 0.5 * pressure
    return {"hardness": hardness, "roughness": roughness}


def simulate(params: dict[str, Any], command_id: str, seed: int, noise: float) -> dict[str, float]:
    """One noisy run: the truth plus Gaussian noise drawn from (seed, command id)."""
    rng = random.Random(f"{seed}:{command_id}")
    t = truth(params)
    return {"hardness": t["hardness"] + rng.gauss(0.0, noise),
            "roughness": max(0.0, t["roughness"] + rng.gauss(0.0, noise / 2))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.1, help="standard deviation of the hardness noise, GPa")
    p.add_argument("--fail-rate", type=float, default=0.0, help="probability that a run fails")
    p.add_argument("--delay", type=float, default=0.0, help="seconds each run takes (a slow simulation)")
    args = p.parse_args(argv)
    request = json.load(sys.stdin)
    command_id, params = str(request["command_id"]), dict(request["params"])
    print(f"film_model: simulating {command_id}", file=sys.stderr)
    if args.delay > 0:
        import time

        time.sleep(args.delay)
    if random.Random(f"fail:{args.seed}:{command_id}").random() < args.fail_rate:
        print(f"film_model: the relaxation of {command_id} diverged", file=sys.stderr)
        return 3
    print(json.dumps(simulate(params, command_id, args.seed, args.noise)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
