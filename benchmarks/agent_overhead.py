"""The agent's own cost per experiment: durable commits, and the CPU beyond them.

Per experiment of the steady state (unattended, planner ``random``, batch 1,
one synthesizer and two measurers answering at once, in-process), with
``n_store`` finished experiments already in the store (100 and 2000 by
default, ``--sizes 100 2000 10000`` for the issue's figures: nothing per
step may grow with the store):

- durable commits: how many, each named by purpose (the store method that
  committed it, with its event, state or instrument), and the time spent in
  them (``BEGIN IMMEDIATE`` .. ``COMMIT``, ``synchronous=FULL``);
- CPU beyond them: the process's CPU time over the step (every thread) less
  the CPU spent inside the commits, the instrument calls and the planner's
  ``propose`` (median and p90 over the experiments); and the same in wall
  time (which, on a loaded machine, also holds waits for a core: thread
  hand-offs to the instrument and planning threads); with ``random`` this
  also holds the planner's effect on the loop: the loop resumes cold after
  waiting for it (35 ms at 10,000 stored), which ``--planners sleep`` (no
  work, the same wait) shows alone; ``constant`` is the loop alone;
- the planner's CPU per experiment (its ``propose``, every thread), median
  and mean: not the agent's, but the mean holds the full garbage collections
  its temporaries set off every few proposals, which traverse the heap the
  agent keeps (the history) unless it is frozen;
- the SQL statements per experiment (sqlite's trace callback), grouped by
  text (``--statements`` prints them): a count that must not grow with the
  store;
- baseline, in the same run: one raw ``INSERT`` + ``COMMIT`` through
  ``sqlite3`` on a WAL database with ``synchronous=FULL``; and with
  ``--baseline PYTHON`` (an interpreter whose ``labpilot`` is an older tree,
  e.g. a worktree of main) the same loop of that tree, each configuration
  run ``--repeats`` times in fresh processes, alternating between the two
  trees so that both see the same machine load.

    python -m benchmarks.agent_overhead [--experiments 100] [--sizes 100 2000] [--profile]
    python -m benchmarks.agent_overhead --baseline ../base/.venv/bin/python --repeats 3 --label after_2
    python -m benchmarks.agent_overhead --sizes 100 2000 10000 --baseline ../base/.venv/bin/python --label after_idle_3

Writes ``benchmarks/results/agent_overhead.json``.
"""

from __future__ import annotations

import os

# One thread per numerical library: a BLAS pool spinning after the planner's call would be billed as the
# agent's CPU (and HELPERS.md asks benchmarks to use one thread).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import collections
import contextlib
import cProfile
import io
import json
import platform
import pstats
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from labpilot.agent.campaign import load_campaign, parse_campaign
from labpilot.agent.loop.runner import CampaignRunner
from labpilot.agent.store import Store
from labpilot.planners.base import Proposal
from labpilot.protocols.capabilities import CommandOutcome, Measurement, Sample

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "agent_overhead.json"


class _Clocked:
    """Accumulates the wall and CPU time spent inside instrument and planner calls (not the agent's)."""

    spent = 0.0
    cpu = 0.0

    @classmethod
    def timed(cls, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()  # the agent's threads only wait meanwhile
            try:
                return fn(*a, **k)
            finally:
                cls.spent += time.perf_counter() - t
                cls.cpu += time.process_time() - c

        return wrapper


class InstantInstrument:
    """An in-process instrument that answers at once (benchmark only: isolates the agent's cost)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.n = 0
        self.pattern = np.random.default_rng(0).random(3501)

    def identify(self) -> str:
        return f"BENCH,{self.kind}"

    def status(self) -> dict[str, Any]:
        return {}

    def make_safe(self) -> None:
        pass

    def command_outcome(self, command_id: str) -> CommandOutcome:
        return CommandOutcome(command_id, "unknown")

    def close(self) -> None:
        pass

    @_Clocked.timed
    def synthesize(self, params: dict[str, Any], command_id: str) -> Sample:
        self.n += 1
        return Sample(f"S{self.n}", {"powers_w": [100.0] * 5})

    @_Clocked.timed
    def measure(self, sample: Sample, command_id: str) -> Measurement:
        if self.kind == "xrd":
            return Measurement({"peak_two_theta": 44.7}, {"two_theta": self.pattern, "counts": self.pattern})
        return Measurement({"magnetization": float(len(sample.sample_id))})


_LABEL_LOCALS = {"set_state": "state", "update_experiment": "event", "log_event": "kind",
                 "command_sent": "instrument", "measurement_done": "instrument", "set_meta": "key"}


class CountingStore(Store):
    """A ``Store`` that records every durable commit: its purpose and its seconds."""

    commits: list[tuple[str, float, float]]  # purpose, wall seconds, CPU seconds of the committing thread

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.commits = []
        self.wall = self.cpu = 0.0  # running totals over ``commits``
        self._inner: list[str] = []

    def _purpose(self) -> str:
        """The outermost store method on the stack (``add_experiment``...), with its event, state or instrument."""
        store_files = {sys.modules[Store.__module__].__file__, __file__}
        frame, top = sys._getframe(1), None
        while frame is not None:
            if frame.f_code.co_filename in store_files and frame.f_code.co_name not in ("_tx", "_purpose"):
                top = frame
            elif top is not None and "contextlib" not in frame.f_code.co_filename:
                break
            frame = frame.f_back
        if top is None:
            return "?"
        name = top.f_code.co_name
        what = _LABEL_LOCALS.get(name)
        value = top.f_locals.get(what) if what else None
        return f"{name}({value})" if value is not None else name

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        outer = not self._conn.in_transaction
        purpose = self._purpose()
        if not outer:  # a write inside atomic(): named in the commit's purpose
            self._inner.append(purpose)
            with super()._tx() as c:
                yield c
            return
        self._inner = []
        t, cpu = time.perf_counter(), time.thread_time()
        with super()._tx() as c:
            yield c
        if not self._conn.in_transaction:
            wall, cpu = time.perf_counter() - t, time.thread_time() - cpu
            self.commits.append(("+".join(self._inner) or purpose, wall, cpu))
            self.wall += wall
            self.cpu += cpu


def _campaign(budget: int) -> tuple[Any, dict[str, Any]]:
    campaign = load_campaign(REPO / "campaigns" / "alloy_magnetization.toml")
    data = campaign.model_dump(mode="json")
    data["budget"]["max_experiments"] = budget
    data["initial_design"] = 1
    data["planner"] = {"name": "random", "batch_size": 1, "options": {}}
    return parse_campaign(data), data


def _populate(store: Store, n: int, seed: int = 0) -> None:
    """``n`` finished experiments in one transaction (what an earlier, long run left)."""
    rng = np.random.default_rng(seed)
    now = time.time()
    conn = store._conn
    conn.execute("BEGIN IMMEDIATE")
    for i in range(n):
        x = rng.dirichlet(np.ones(5))
        params = dict(zip(("Fe", "Co", "Ni", "Ir", "Pt"), map(float, x)))
        eid = conn.execute(
            "INSERT INTO experiments (params, status, chosen_by, planner, created, updated, sample_id)"
            " VALUES (?, 'completed', 'planner', 'random', ?, ?, ?)", (json.dumps(params), now, now, f"P{i}")).lastrowid
        for inst, name, value in (("xrd", "peak_two_theta", 44.7), ("magnetometer", "magnetization", float(x[0]))):
            conn.execute("INSERT INTO measurements (experiment_id, instrument, name, value, created)"
                         " VALUES (?, ?, ?, ?, ?)", (eid, inst, name, value, now))
        for inst, action in (("sputter", "synthesize"), ("xrd", "measure"), ("magnetometer", "measure")):
            conn.execute("INSERT INTO commands (id, experiment_id, instrument, action, status, sent, finished, result)"
                         " VALUES (?, ?, ?, ?, 'done', ?, ?, '{}')", (f"old-e{eid}-{inst}", eid, inst, action, now, now))
        for kind in ("experiment_added", "synthesized", "measured", "measured", "completed"):
            conn.execute("INSERT INTO events (ts, kind, experiment_id, data) VALUES (?, ?, ?, '{}')", (now, kind, eid))
    conn.execute("COMMIT")


_LITERAL = re.compile(r"'(?:[^']|'')*'|\bX'[0-9A-F]*'|-?\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b")


def _shape(sql: str) -> str:
    """A statement without its values (the trace callback gives them bound): the same query, one text."""
    return _LITERAL.sub("?", " ".join(sql.split()))


def _constant_propose(history: Any, k: int = 1) -> list[Proposal]:
    """A planner that costs nothing and touches nothing: isolates the agent's own work from the planner's."""
    return [Proposal({"Fe": 0.2, "Co": 0.2, "Ni": 0.2, "Ir": 0.2, "Pt": 0.2})] * k


#: How long the ``sleep`` planner waits: about what ``random`` takes with 10,000 experiments stored.
SLEEP_S = 0.035


def _sleeping_propose(history: Any, k: int = 1) -> list[Proposal]:
    """``constant`` after a wait of ``SLEEP_S`` with no CPU: what the planner's wait alone does to the loop's CPU."""
    time.sleep(SLEEP_S)
    return _constant_propose(history, k)


_PROPOSE = {"constant": _constant_propose, "sleep": _sleeping_propose}


def loop_costs(n_store: int, n_new: int, tmp: Path, profile: bool = False, planner: str = "random") -> dict[str, Any]:
    """Run ``n_new`` experiments on a store holding ``n_store``; per-experiment commits and CPU.

    ``planner``: ``random`` (the real planner, its time excluded) or ``constant`` (no planner work at all:
    what is left is the agent's alone, free of the planner's effect on caches and allocator), or ``sleep``
    (``constant`` after a 35 ms wait: the loop resumes cold, as after ``random`` at 10,000 stored).
    """
    campaign, data = _campaign(n_store + n_new)
    path = tmp / f"loop{n_store}-{time.monotonic_ns()}.db"
    Store.create(path, campaign.name, data, "").close()
    plain = Store.open(path)
    _populate(plain, n_store)
    plain.close()
    raw_conn = Store._connect(path)
    statements: list[str] = []  # every SQL statement the agent ran (sqlite's trace callback), in order
    raw_conn.set_trace_callback(statements.append)
    store = CountingStore(path, raw_conn)
    instruments = {s.name: InstantInstrument(s.kind) for s in campaign.instruments}
    marks: list[tuple[float, float, int, float, float, float, float]] = []
    stmt_marks: list[int] = []
    main_marks: list[float] = []  # CPU of the loop's own thread (it makes every commit)
    planner_cpu = [0.0]  # the planner's CPU so far (its ``propose`` calls)
    planner_marks: list[float] = []

    def mark(_: Any) -> None:
        marks.append((time.perf_counter(), _Clocked.spent, len(store.commits), store.wall,
                      time.process_time(), _Clocked.cpu, store.cpu))
        stmt_marks.append(len(statements))
        main_marks.append(time.thread_time())
        planner_marks.append(planner_cpu[0])

    runner = CampaignRunner(campaign, store, instruments, progress=mark)  # the default poll: no polling wait
    propose = _Clocked.timed(_PROPOSE.get(planner, runner.planner.propose))

    def clocked_propose(history: Any, k: int = 1) -> list[Proposal]:
        c = time.process_time()
        try:
            return propose(history, k)
        finally:
            planner_cpu[0] += time.process_time() - c

    runner.planner.propose = clocked_propose  # type: ignore[method-assign]
    _Clocked.spent = _Clocked.cpu = 0.0
    profiler = cProfile.Profile() if profile else None
    mark(None)
    if profiler:
        profiler.enable()
    state = runner.run()
    if profiler:
        profiler.disable()
    assert state == "completed" and store.counts()["completed"] == n_store + n_new, state
    # per experiment: from one finished experiment to the next (the first is warm-up, left out)
    steps = []
    for (t0, c0, k0, s0, p0, i0, x0), (t1, c1, k1, s1, p1, i1, x1) in zip(marks[1:], marks[2:]):
        commits = s1 - s0
        steps.append({"commits": k1 - k0, "commit_s": commits,
                      # wall: the step less its commits and the instrument and planner calls
                      "wall_s": (t1 - t0) - (c1 - c0) - commits,
                      # CPU (every thread of the process) less the commits' and the calls' own CPU
                      "cpu_s": (p1 - p0) - (i1 - i0) - (x1 - x0)})
    # what the commits of one steady-state experiment were for (the last one's window)
    k_prev, k_last = marks[-2][2], marks[-1][2]
    purposes = collections.Counter(c[0] for c in store.commits[k_prev:k_last])
    per_step = [b - a for a, b in zip(stmt_marks[1:], stmt_marks[2:])]
    last = collections.Counter(_shape(q) for q in statements[stmt_marks[-2]:stmt_marks[-1]])
    # the loop's thread alone, less its commits: what the loop computes, without the threads it hands work to
    main = [(m1 - m0) - (x1 - x0) for m0, m1, (*_, x0), (*_, x1) in
            zip(main_marks[1:], main_marks[2:], marks[1:], marks[2:])]
    cpu = [s["cpu_s"] for s in steps]
    planner_steps = [b - a for a, b in zip(planner_marks[1:], planner_marks[2:])]
    wall = [s["wall_s"] for s in steps]
    out: dict[str, Any] = {
        "n_store": n_store, "n_new": n_new, "planner": planner,
        "commits_per_experiment": statistics.median(s["commits"] for s in steps),
        "commit_purposes": dict(purposes),
        "statements_per_experiment": statistics.median(per_step),
        "statements_max": max(per_step),
        # the last experiment's statements, grouped by text (values as ?)
        "statements": dict(last.most_common()),
        "commit_ms_median": statistics.median(s["commit_s"] for s in steps) * 1e3,
        "cpu_beyond_commits_ms_median": statistics.median(cpu) * 1e3,
        "cpu_beyond_commits_ms_p90": float(np.percentile(cpu, 90)) * 1e3,
        "loop_thread_cpu_beyond_commits_ms_median": statistics.median(main) * 1e3,
        "wall_beyond_commits_ms_median": statistics.median(wall) * 1e3,
        "wall_beyond_commits_ms_p90": float(np.percentile(wall, 90)) * 1e3,
        "planner_cpu_ms_median": statistics.median(planner_steps) * 1e3,
        "planner_cpu_ms_mean": statistics.mean(planner_steps) * 1e3,  # with the full collections it set off now and then
    }
    if profiler:
        s = io.StringIO()
        pstats.Stats(profiler, stream=s).sort_stats("cumulative").print_stats(35)
        out["profile"] = s.getvalue()
    store.close()
    return out


def raw_insert_latency(n: int, tmp: Path) -> list[float]:
    """Seconds of one raw sqlite3 insert+commit (WAL, synchronous=FULL): the durable write's floor."""
    raw = sqlite3.connect(str(tmp / "raw.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, ts REAL, kind TEXT, data TEXT)")
    out = []
    for _ in range(n):
        t = time.perf_counter()
        raw.execute("BEGIN")
        raw.execute("INSERT INTO events (ts, kind, data) VALUES (?, ?, ?)", (time.time(), "bench", '{"i": 1}'))
        raw.execute("COMMIT")
        out.append(time.perf_counter() - t)
    raw.close()
    return out


def _child(python: str, planner: str, size: int, experiments: int) -> dict[str, Any]:
    """One configuration measured in a fresh process of ``python`` (its own ``labpilot``)."""
    done = subprocess.run([python, __file__, "--child", planner, str(size), str(experiments)],
                          capture_output=True, text=True, check=True, cwd=str(REPO))
    return json.loads(done.stdout.strip().splitlines()[-1])


_KEYS = ("cpu_beyond_commits_ms_median", "cpu_beyond_commits_ms_p90", "loop_thread_cpu_beyond_commits_ms_median",
         "wall_beyond_commits_ms_median", "wall_beyond_commits_ms_p90", "commit_ms_median", "planner_cpu_ms_median",
         "planner_cpu_ms_mean")


def _combine(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one configuration: the first's counts, each figure's median over the runs (and each run's)."""
    out = dict(repeats[0])
    for key in _KEYS:
        out[key] = statistics.median(r[key] for r in repeats)
        out[key.replace("_median", "") + "_per_repeat"] = [r[key] for r in repeats]
    out["repeats"] = len(repeats)
    out["load_per_repeat"] = [r["load"] for r in repeats]
    return out


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":  # one configuration, JSON on stdout
        with tempfile.TemporaryDirectory() as d:
            r = loop_costs(int(sys.argv[3]), int(sys.argv[4]), Path(d), planner=sys.argv[2])
        r["load"] = os.getloadavg()[0]
        print(json.dumps(r))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=100, help="new experiments per run")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 2000], help="finished experiments already stored")
    ap.add_argument("--inserts", type=int, default=500)
    ap.add_argument("--planners", nargs="+", default=["random", "constant"], choices=["random", "constant", "sleep"])
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the loop (largest store)")
    ap.add_argument("--statements", action="store_true", help="print each run's SQL statements, grouped")
    ap.add_argument("--baseline", help="a Python whose labpilot is the baseline tree: measured alternately with this one")
    ap.add_argument("--repeats", type=int, default=3, help="with --baseline: fresh processes per configuration and tree")
    ap.add_argument("--label", default="after", help="key of this run in the results JSON")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    machine = {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
               "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
               "load_before": os.getloadavg()}
    print(f"machine: {machine['platform']}, {machine['cpus']} CPUs, Python {machine['python']}, "
          f"SQLite {machine['sqlite']}, load average {machine['load_before'][0]:.1f}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        raw = raw_insert_latency(args.inserts, tmp)
        raw_ms = statistics.median(raw) * 1e3
        print(f"raw sqlite3 insert+commit (WAL, synchronous=FULL): median {raw_ms:.2f} ms, "
              f"p90 {np.percentile(raw, 90) * 1e3:.2f} ms")
        runs, baseline_runs = [], []
        plan = [(p, size) for p in args.planners for size in args.sizes]
        for i, (planner, size) in enumerate(plan):
            if args.baseline:
                mine, theirs = [], []
                for _ in range(args.repeats):  # alternating: both trees see the same load
                    theirs.append(_child(args.baseline, planner, size, args.experiments))
                    mine.append(_child(sys.executable, planner, size, args.experiments))
                b = _combine(theirs)
                baseline_runs.append(b)
                r = _combine(mine)
                print(f"{planner:>8} planner, store of {size:>5}, BASELINE: {b['commits_per_experiment']:.0f} commits, "
                      f"{b['statements_per_experiment']:.0f} statements, CPU beyond commits median "
                      f"{b['cpu_beyond_commits_ms_median']:.2f} ms ({', '.join(f'{x:.2f}' for x in b['cpu_beyond_commits_ms_per_repeat'])}), "
                      f"p90 {b['cpu_beyond_commits_ms_p90']:.2f} ms, planner CPU {b['planner_cpu_ms_median']:.2f} ms "
                      f"(mean {b['planner_cpu_ms_mean']:.2f})")
            else:
                r = loop_costs(size, args.experiments, tmp, profile=args.profile and size == max(args.sizes),
                               planner=planner)
                r["load"] = os.getloadavg()[0]
            runs.append(r)
            eta = (time.monotonic() - started) / (i + 1) * (len(plan) - i - 1)
            print(f"{planner:>8} planner, store of {size:>5}: {r['commits_per_experiment']:.0f} durable commits per experiment "
                  f"({r['commit_ms_median']:.1f} ms = {r['commit_ms_median'] / raw_ms:.1f} raw inserts), "
                  f"CPU beyond them median {r['cpu_beyond_commits_ms_median']:.2f} ms, "
                  f"p90 {r['cpu_beyond_commits_ms_p90']:.2f} ms (wall median {r['wall_beyond_commits_ms_median']:.2f} ms, "
                  f"p90 {r['wall_beyond_commits_ms_p90']:.2f} ms; loop thread alone "
                  f"{r['loop_thread_cpu_beyond_commits_ms_median']:.2f} ms; planner CPU {r['planner_cpu_ms_median']:.2f} ms "
                  f"(mean {r['planner_cpu_ms_mean']:.2f}); "
                  f"load {r.get('load', 0):.1f})   [ETA {eta:.0f} s]")
            for purpose, k in sorted(r["commit_purposes"].items()):
                print(f"    {k} x {purpose}")
            print(f"    {r['statements_per_experiment']:.0f} SQL statements per experiment (max {r['statements_max']}):")
            if args.statements:
                for q, k in r["statements"].items():
                    print(f"      {k:3d} x {q[:150]}")
            if "profile" in r:
                print(r.pop("profile"))
    machine["load_after"] = os.getloadavg()
    result = {"machine": machine, "raw_insert_commit_ms_median": raw_ms,
              "raw_insert_commit_ms_p90": float(np.percentile(raw, 90)) * 1e3, "runs": runs}
    if args.baseline:
        result["baseline"] = {"python": args.baseline, "runs": baseline_runs, "repeats": args.repeats}
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing[args.label] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"results: {args.out} [{args.label}]")


if __name__ == "__main__":
    main()
