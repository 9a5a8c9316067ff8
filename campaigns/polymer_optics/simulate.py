"""The simulation pipeline of ``campaigns/polymer_optics.toml``, one ``command`` instrument per stage.

- ``simulate.py build``: the synthesizer. Builds the amorphous cell of a
  polymer (a polymer builder packing chains into a box): quick, never fails.
  Returns ``{"sample_id": "cell-<polymer_id>-<hash>", "polymer_id", "chains", "box_nm"}``.
- ``simulate.py md``: the measurer. Equilibrates the cell by molecular
  dynamics, then computes the electronic polarizability: slow (a random
  "MD time", lognormal around 6 simulated hours), noisy (the finite-size and
  sampling error of the estimate), and now and then it fails as such codes
  do (exit code 3 and a message on stderr such as ``SCF did not converge``).
  Returns ``{"refractive_index": n_d, "abbe_number": V_d}`` (both dimensionless).

Protocol (``drivers/generic/command.py``): one JSON object on stdin,
``{"command_id", "role", "params": {"polymer_id", ...}, "sample_id"?, "sample"?}``;
the result as one JSON object written to ``--result-file`` (atomically: a
temporary file renamed into place, so a half-written result is never read)
and printed on stdout. The noise, the run time and the failures are drawn
from ``--seed`` and the command id: the same command gives the same answer,
another run of the same polymer another draw.

Ledger: with the environment variable ``POLYMER_SIM_LEDGER`` set to a file,
every run appends ``<stage> <command id> <pid>`` to it as it starts (the tests
count runs per command id with it).

Time: ``--time-scale S`` is the real seconds per simulated hour (default
0.25: a 6-hour run takes 1.5 s); the environment variable
``POLYMER_SIM_TIME_SCALE`` overrides it (tests set 0). The truth lives in
``truth.csv`` beside this file (``make_pool.py`` writes it); the planner
never sees it. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TRUTH_FILE = HERE / "truth.csv"
ID_COLUMN = "polymer_id"
#: Standard deviations of one run's estimate (MD sampling and finite-size error).
NOISE_N, NOISE_ABBE = 0.004, 0.8
#: What a failed run says (one is drawn per failure).
FAILURES = (
    "polarizability: SCF did not converge in 128 iterations",
    "md: lost atoms during NPT equilibration (timestep too large for this cell)",
    "md: density did not converge after 2 ns of NPT",
)
EXIT_FAILED, EXIT_BAD_INPUT = 3, 2


class BadInput(Exception):
    """The request cannot be run (unknown polymer, malformed JSON): exit code 2."""


def read_truth(path: Path = TRUTH_FILE) -> dict[str, tuple[float, float]]:
    """``polymer_id -> (n_d, V_d)``, noise-free."""
    if not path.is_file():
        raise BadInput(f"no truth file {path}: run `python {HERE / 'make_pool.py'}` first")
    out: dict[str, tuple[float, float]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or line.startswith(ID_COLUMN):
                continue
            pid, n, v = line.strip().split(",")
            out[pid] = (float(n), float(v))
    return out


def polymer_of(request: dict[str, Any]) -> str:
    """The polymer id of a request: ``params.polymer_id`` (a measurer also finds it in ``sample``)."""
    params = request.get("params") or {}
    pid = params.get(ID_COLUMN) or (request.get("sample") or {}).get(ID_COLUMN)
    if not isinstance(pid, str) or not pid:
        raise BadInput(f"request has no params.{ID_COLUMN}: {json.dumps(request)[:200]}")
    return pid


def build(request: dict[str, Any], seed: int) -> dict[str, Any]:
    """The amorphous cell of the requested polymer (deterministic per command id)."""
    pid = polymer_of(request)
    if pid not in read_truth():
        raise BadInput(f"unknown {ID_COLUMN} {pid!r} (not in {TRUTH_FILE.name})")
    cid = str(request["command_id"])
    rng = random.Random(f"build:{seed}:{cid}")
    tag = hashlib.sha256(cid.encode()).hexdigest()[:8]
    return {"sample_id": f"cell-{pid}-{tag}", ID_COLUMN: pid, "chains": rng.choice((8, 10, 12)),
            "box_nm": round(rng.uniform(4.5, 6.0), 2)}


def md_hours(seed: int, command_id: str) -> float:
    """Simulated hours this run takes (lognormal, median 6 h)."""
    return random.Random(f"time:{seed}:{command_id}").lognormvariate(1.79, 0.45)


def md(request: dict[str, Any], seed: int, fail_rate: float) -> dict[str, float]:
    """One noisy estimate of n_d and V_d, or ``RuntimeError`` (a failed run) at ``fail_rate``."""
    pid = polymer_of(request)
    truth = read_truth()
    if pid not in truth:
        raise BadInput(f"unknown {ID_COLUMN} {pid!r} (not in {TRUTH_FILE.name})")
    cid = str(request["command_id"])
    rng = random.Random(f"md:{seed}:{cid}")
    if rng.random() < fail_rate:
        raise RuntimeError(rng.choice(FAILURES))
    n, v = truth[pid]
    return {"refractive_index": round(n + rng.gauss(0.0, NOISE_N), 5),
            "abbe_number": round(v + rng.gauss(0.0, NOISE_ABBE), 3)}


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write ``result`` to ``path`` atomically (a reader sees all of it or nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, path)


def say(text: str) -> None:
    """A line on stderr; a reader that went away (the agent was killed) is not an error."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (BrokenPipeError, OSError):
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=("build", "md"))
    p.add_argument("--seed", type=int, default=0, help="seeds noise, run times and failures (with the command id)")
    p.add_argument("--fail-rate", type=float, default=0.05, help="probability that an md run fails")
    p.add_argument("--time-scale", type=float, default=0.25, help="real seconds per simulated hour")
    p.add_argument("--result-file", type=Path, help="write the result here too (atomically)")
    args = p.parse_args(argv)
    scale = float(os.environ.get("POLYMER_SIM_TIME_SCALE", args.time_scale))
    try:
        request = json.load(sys.stdin)
        if not isinstance(request, dict) or "command_id" not in request:
            raise BadInput("stdin holds no JSON object with a command_id")
        cid = str(request["command_id"])
        ledger = os.environ.get("POLYMER_SIM_LEDGER")
        if ledger:
            with open(ledger, "a", encoding="utf-8") as fh:  # one short append per run: atomic
                fh.write(f"{args.stage} {cid} {os.getpid()}\n")
        if args.stage == "build":
            time.sleep(0.1 * scale)
            result: dict[str, Any] = build(request, args.seed)
        else:
            hours = md_hours(args.seed, cid)
            say(f"md: {cid}: polymer {polymer_of(request)}, {hours:.1f} simulated hours")
            time.sleep(hours * scale)
            result = md(request, args.seed, args.fail_rate)
    except BadInput as exc:
        say(f"simulate {args.stage}: {exc}")
        return EXIT_BAD_INPUT
    except (ValueError, KeyError) as exc:
        say(f"simulate {args.stage}: bad request: {exc}")
        return EXIT_BAD_INPUT
    except RuntimeError as exc:
        say(f"{exc} (command id {cid})")
        return EXIT_FAILED
    if args.result_file is not None:
        write_result(args.result_file, result)
    try:
        print(json.dumps(result), flush=True)
    except (BrokenPipeError, OSError):
        pass  # the agent went away; the result file holds the answer
    return 0


if __name__ == "__main__":
    sys.exit(main())
