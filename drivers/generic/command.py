"""``command``: a program is the instrument (a simulation code, a solver, a script).

Campaign TOML::

    [[instruments]]
    name = "simulation"
    kind = "command"
    address = "local"
    [instruments.options]
    role = "measure"
    argv = ["{python}", "sim/film_model.py", "--seed", "7"]   # relative to the campaign file's folder
    scalars = { hardness = "GPa", roughness = "nm" }
    run_timeout_s = 120
    max_parallel = 4

**Paths**: the program runs in ``cwd``, which is the campaign file's folder
unless the options say otherwise (a relative ``cwd`` is relative to that
folder; ``load_campaign`` makes it absolute, ``agent.command_cwd``). So a
relative program or script in ``argv``, ``result_file`` and its run markers
resolve next to the campaign file, whatever directory ``labpilot run``
starts in, like every other file a campaign names. Options read without a
campaign file (no ``cwd``) run in the agent's working directory.
``labpilot validate`` names a ``cwd``, program or ``{python}`` script that
does not exist (``path_problems``); the driver refuses it at setup. The
script (``script_items``) is the campaign's code: a resumed run compares its
content with the one journaled when the campaign was created
(``agent.loop.code_resume``), so one edited in place runs only with
``--accept-changes``.

Each synthesis or measurement runs ``argv`` once:

- **input**: with ``stdin = true`` (default) the program reads one JSON object
  on stdin: ``{"command_id", "role", "params", "sample_id"?}`` (a measurer gets
  the parameters the sample was made with, and ``sample``: what its synthesis
  returned). Every ``argv`` item is also a
  template: ``{name}`` is replaced by the parameter ``name``, and by
  ``{command_id}``, ``{sample_id}``, ``{result_file}`` and ``{python}`` (this
  interpreter); ``{{`` and ``}}`` are literal braces.
- **output**: one JSON object, from stdout (the whole of it, or else its last
  non-empty line, so a program may log before it) or, with ``result_file``
  (a template such as ``"runs/{command_id}.json"``), from that file once the
  program exits. A measurer's object holds its declared ``scalars`` (and
  ``arrays``), at the top level or under ``"scalars"``/``"arrays"``; a
  synthesizer's may hold ``sample_id`` and anything else (the sample's info).
- **failure**: a non-zero exit, a run past ``run_timeout_s`` (the program's
  process group is killed) or output that is not such an object fails the
  experiment with an ``InstrumentError`` that carries the tail of stderr.
- **parallel**: at most ``max_parallel`` runs at once per instrument (one
  semaphore per driver instance); the driver is safe to call from several
  threads. ``make_safe`` and ``close`` kill every run still going.

**Reconciliation**: without a per-command result file, ``can_reconcile`` is
False. A killed agent cannot know whether a program it started finished (it
may still be running, orphaned), so recovery never re-runs it blindly but
asks an operator (``labpilot resolve``).

When ``result_file`` is keyed by the command id and nothing else (such as
``"runs/{command_id}.json"``), the configuration reconciles
(``for_options`` declares ``can_reconcile``): before it starts the program
the driver writes a **run marker** beside the result file
(``runs/<id>.json.started``, then again with the process id and its start
time once it runs). After a restart, a command id is then

- ``done`` when its result file exists: it is read, never run again;
- ``running`` when its marker names a process still alive: the driver waits
  for that orphan to finish (within ``run_timeout_s`` of its start) and reads
  its result file;
- ``failed`` when the marker's process has ended without a result file (its
  exit code went with the agent that started it), or when the marker has no
  process id (the agent died while starting it: whether it ran cannot be
  known, so it is not run again);
- ``unknown`` (never received) without a marker: it is started.

So a resumed campaign runs no program twice and loses no finished result.
The program should write its result file atomically (write, then rename).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Mapping

from pydantic import Field, field_validator

from labpilot.drivers.generic.local import LocalDriver, LocalOptions
from labpilot.errors import ConfigurationError, InstrumentError
from labpilot.protocols.capabilities import CommandOutcome, Sample

#: ``{name}`` in an argv item or a result file (``{{``/``}}`` are literal braces).
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
#: Characters of stderr kept in an error message.
STDERR_TAIL_CHARS = 1500


def render(template: str, values: Mapping[str, Any], what: str) -> str:
    """Fill ``{name}`` fields of ``template`` from ``values``; an unknown name is an error naming ``what``."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        name = m.group(1)
        if name not in values:
            raise ConfigurationError(f"{what}: {{{name}}} names no parameter; known: {', '.join(sorted(values))}")
        return str(values[name])

    return _FIELD.sub(one, template)


def tail(text: str, limit: int = STDERR_TAIL_CHARS) -> str:
    """The last ``limit`` characters of ``text`` (what a failed program said last)."""
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def keyed_result_file(template: Any) -> bool:
    """Whether a ``result_file`` template names the command id and no other field (one file per command)."""
    return isinstance(template, str) and "{command_id}" in template and \
        "{" not in template.replace("{command_id}", "").replace("{{", "").replace("}}", "")


def _proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), to tell it from a later process with its id."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` still runs (not a zombie) and is the one that was started (same start time)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True  # no /proc: trust the signal check
    return stat[0] != "Z" and (start is None or stat[19] == start)


#: Options of ``{python}`` that take the next argument as their value (so it is not the script).
_PYTHON_VALUE_FLAGS = ("-W", "-X", "--check-hash-based-pycs")
#: Options of ``{python}`` after which no script follows (a module, a command, stdin).
_PYTHON_NO_SCRIPT = ("-m", "-c", "-")


def python_script(argv: list[str]) -> int | None:
    """The index of the script in ``["{python}", ..., "script.py", ...]``; None when it runs no file.

    ``{python} -m module`` or ``-c code`` runs no file; options before the
    script (``-u``, ``-W ignore``) are skipped.
    """
    if argv[0] != "{python}":
        return None
    i = 1
    while i < len(argv):
        item = argv[i]
        if item in _PYTHON_NO_SCRIPT or (item.startswith(("-m", "-c")) and not item.startswith("--")):
            return None
        if item in _PYTHON_VALUE_FLAGS:
            i += 2
            continue
        if item.startswith("-"):
            i += 1
            continue
        return i
    return None


def script_items(argv: list[str]) -> list[int]:
    """The indices of ``argv`` items that are the campaign's own code, a file whose content a resume compares.

    The script ``{python}`` runs, or the program itself when ``argv[0]`` names
    a file by a relative path (``./run.sh``, ``tools/sim.sh``: relative to
    ``cwd``, the campaign's folder). A program on PATH or at an absolute path
    is the system's (``/usr/bin/env``), not the campaign's; an item templated
    from parameters (``{x}``) is known only per run.
    """
    script = python_script(argv)
    items = [script] if script is not None else []
    program = argv[0]
    if script is None and os.sep in program and not Path(program).is_absolute():
        items.append(0)
    return [j for j in items if "{" not in argv[j]]


def path_problems(config: "CommandOptions") -> list[tuple[str, str]]:
    """(option, reason) for a ``cwd``, program or ``{python}`` script that does not exist here.

    What ``labpilot validate`` reports (by field) and the driver refuses at
    setup. A relative program or script is looked for in ``cwd`` (the
    campaign file's folder, unless the options were read without one: then
    the working directory); an item templated from parameters (``{x}``) is
    known only per run and not checked.
    """
    cwd = Path(config.cwd) if config.cwd else Path.cwd()
    if config.cwd and not cwd.is_dir():
        return [("cwd", f"{config.cwd!r} is not a directory")]
    out: list[tuple[str, str]] = []
    program = config.argv[0]
    if program != "{python}" and "{" not in program:
        found = shutil.which(program, path=os.environ.get("PATH")) if os.sep not in program else None
        if found is None and not (cwd / program).is_file():
            out.append(("argv[0]", f"{program!r} is not a program on PATH or a file (relative to {cwd})"))
    script = python_script(config.argv)
    if script is not None and "{" not in config.argv[script] and not (cwd / config.argv[script]).is_file():
        out.append((f"argv[{script}]", f"{config.argv[script]!r} is not a file (the script {{python}} runs, "
                                       f"relative to {cwd})"))
    return out


class CommandOptions(LocalOptions):
    """The program, how it gets its input and gives its result, its time limit and parallelism."""

    argv: list[str] = Field(min_length=1)
    """The program and its arguments (templates), e.g. ``["{python}", "sim.py", "--x", "{x}"]``."""
    stdin: bool = True
    """Send ``{"command_id", "role", "params", "sample_id"?}`` as JSON on stdin."""
    result_file: str | None = Field(None, min_length=1)
    """Read the result from this file (a template, relative to ``cwd``) instead of stdout."""
    cwd: str | None = Field(None, min_length=1)
    """Working directory of the program: relative to the campaign file's folder, which is the default
    (``load_campaign`` makes it absolute); None only where options were read without a campaign file:
    the agent's working directory."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables."""
    run_timeout_s: float = Field(3600.0, gt=0, allow_inf_nan=False)
    """Seconds one run may take before it is killed and the experiment fails."""
    max_parallel: int = Field(1, ge=1, le=1024)
    """Runs at once on this instrument."""

    @field_validator("argv")
    @classmethod
    def _program_named(cls, v: list[str]) -> list[str]:
        if not v[0].strip():
            raise ValueError("argv[0] (the program) is empty")
        return v


class CommandDriver(LocalDriver):
    """Runs a program per synthesis or measurement; a JSON object in, a JSON object out."""

    kind: ClassVar[str] = "command"
    Options = CommandOptions
    can_reconcile: ClassVar[bool] = False

    @classmethod
    def for_options(cls, options: Mapping[str, Any] | None = None) -> type["LocalDriver"]:
        """As ``LocalDriver.for_options``; reconciles when the result file is keyed by the command id."""
        sub = super().for_options(options)
        sub.can_reconcile = keyed_result_file((options or {}).get("result_file"))
        return sub

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.config: CommandOptions
        self._slots = threading.BoundedSemaphore(self.config.max_parallel)
        self.capacity = self.config.max_parallel  # parallel execution keeps this many runs going
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._check_program()

    def _check_program(self) -> None:
        """The program (and a ``{python}`` script) must exist now, not at experiment 1."""
        problems = path_problems(self.config)
        if problems:
            option, reason = problems[0]
            raise ConfigurationError(f"command: options.{option} {reason}")

    # -- one run -------------------------------------------------------------------
    def _values(self, params: Mapping[str, Any], command_id: str, sample_id: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {**params, "command_id": command_id, "python": sys.executable}
        if sample_id is not None:
            values["sample_id"] = sample_id
        if self.config.result_file:
            values["result_file"] = render(self.config.result_file, values, "options.result_file")
        return values

    def _result_path(self, values: Mapping[str, Any]) -> Path | None:
        if not self.config.result_file:
            return None
        path = Path(str(values["result_file"]))
        return path if path.is_absolute() else Path(self.config.cwd or ".") / path

    def run(self, params: Mapping[str, Any], command_id: str, sample_id: str | None = None,
            sample_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run the program once (waiting for a free slot) and return its JSON object."""
        try:
            values = self._values(params, command_id, sample_id)
            argv = [render(item, values, f"options.argv[{i}]") for i, item in enumerate(self.config.argv)]
        except ConfigurationError as exc:
            raise InstrumentError(self.kind, 0, str(exc)) from None
        payload = {"command_id": command_id, "role": self.role_here, "params": dict(params)}
        if sample_id is not None:
            payload["sample_id"] = sample_id
            payload["sample"] = {k: v for k, v in (sample_info or {}).items() if k != "params"}
        result_path = self._result_path(values)
        marker = self._marker(result_path)
        if marker is not None and result_path is not None and (result_path.exists() or marker.exists()):
            return self._recovered(result_path, marker, argv[0], command_id)
        with self._slots:
            stdout, stderr, code = self._spawn(argv, payload, command_id, marker)
        if code != 0:
            why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            raise InstrumentError(self.kind, code, f"{argv[0]} failed ({why}, command id {command_id}); "
                                                   f"stderr: {tail(stderr) or '(empty)'}")
        if result_path is not None:
            try:
                text = result_path.read_text(encoding="utf-8")
            except OSError as exc:
                raise InstrumentError(self.kind, 0, f"{argv[0]} wrote no result file {result_path} "
                                                    f"({exc.strerror}; command id {command_id}); "
                                                    f"stderr: {tail(stderr) or '(empty)'}") from None
            return self._parse(text, f"result file {result_path}", command_id, stderr)
        return self._parse(stdout, "stdout", command_id, stderr)

    def _spawn(self, argv: list[str], payload: dict[str, Any], command_id: str,
               marker: Path | None = None) -> tuple[str, str, int]:
        with self._lock:
            if self._closed:
                raise InstrumentError(self.kind, 0, f"instrument closed; {command_id} not started")
            env = {**os.environ, **self.config.env} if self.config.env else None
            if marker is not None:
                self._write_marker(marker, {"command_id": command_id, "pid": None, "at": time.time()})
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.PIPE if self.config.stdin else subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.config.cwd, env=env,
                    start_new_session=True,  # its own process group: a timeout kills its children too
                )
            except OSError as exc:
                raise InstrumentError(self.kind, 0, f"cannot start {argv[0]!r}: {exc.strerror or exc} "
                                                    f"(options.argv[0]; command id {command_id})") from None
            self._running[proc.pid] = proc
            if marker is not None:
                self._write_marker(marker, {"command_id": command_id, "pid": proc.pid, "start": _proc_start(proc.pid),
                                            "at": time.time()})
        data = json.dumps(payload, default=str).encode() if self.config.stdin else None
        try:
            out, err = proc.communicate(data, timeout=self.config.run_timeout_s)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            out, err = proc.communicate()
            raise InstrumentError(self.kind, 0, f"{argv[0]} did not finish within options.run_timeout_s = "
                                                f"{self.config.run_timeout_s:g}s and was killed (command id "
                                                f"{command_id}); stderr: {tail(err.decode(errors='replace')) or '(empty)'}") from None
        finally:
            with self._lock:
                self._running.pop(proc.pid, None)
        return out.decode(errors="replace"), err.decode(errors="replace"), proc.returncode

    # -- run markers (reconciliation by result file) ------------------------------
    def _marker(self, result_path: Path | None) -> Path | None:
        """The run marker beside a per-command result file; None when this configuration keeps none."""
        if result_path is None or not keyed_result_file(self.config.result_file):
            return None
        return result_path.with_name(result_path.name + ".started")

    @staticmethod
    def _write_marker(marker: Path, record: dict[str, Any]) -> None:
        """Write the marker atomically, before and after the program starts.

        Not fsync'd: a killed agent loses no written file (only a power cut
        would, and it takes the orphaned programs with it), and the window in
        which a marker says "starting" without a process id stays short."""
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".{marker.name}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, marker)

    @staticmethod
    def _read_marker(marker: Path) -> dict[str, Any] | None:
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def _recovered(self, result_path: Path, marker: Path, program: str, command_id: str) -> dict[str, Any]:
        """A command started before (by this or an earlier agent): its result, after waiting for a live orphan."""
        record = self._read_marker(marker) or {}
        pid = record.get("pid")
        if not result_path.exists() and isinstance(pid, int):
            deadline = float(record.get("at") or time.time()) + self.config.run_timeout_s
            while _alive(pid, record.get("start")) and not result_path.exists():
                if self._closed:
                    raise InstrumentError(self.kind, 0, f"instrument closed while waiting for {command_id}")
                if time.time() > deadline:
                    self._kill_group(pid)
                    raise InstrumentError(self.kind, 0, f"{program} (pid {pid}, started by an earlier agent) did "
                                                        f"not finish within options.run_timeout_s = "
                                                        f"{self.config.run_timeout_s:g}s and was killed "
                                                        f"(command id {command_id})")
                time.sleep(0.1)
            time.sleep(0.05)  # a result renamed into place as the process exits
        try:
            text = result_path.read_text(encoding="utf-8")
        except OSError:
            if pid is None:
                raise InstrumentError(self.kind, 0, f"{program} was being started for command id {command_id} when "
                                                    f"the agent stopped; whether it ran cannot be known, so it is "
                                                    f"not run again (no result file {result_path})") from None
            raise InstrumentError(self.kind, 0, f"{program} (pid {pid}, started before a restart) ended without "
                                                f"writing {result_path}; its exit code and stderr went with the "
                                                f"agent that started it (command id {command_id})") from None
        return self._parse(text, f"result file {result_path}", command_id, "")

    @staticmethod
    def _kill_group(pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _parse(self, text: str, where: str, command_id: str, stderr: str) -> dict[str, Any]:
        """One JSON object: the whole text, or else its last non-empty line."""
        lines = text.strip().splitlines()
        candidates = [text.strip()] + ([lines[-1].strip()] if len(lines) > 1 else [])
        for candidate in candidates:
            try:
                obj = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
        raise InstrumentError(self.kind, 0, f"{where} of {command_id} holds no JSON object: "
                                            f"{tail(text, 300) or '(empty)'}; stderr: {tail(stderr) or '(empty)'}")

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    # -- LocalDriver ---------------------------------------------------------------
    def _synthesize(self, params: dict[str, Any], command_id: str) -> dict[str, Any]:
        return self.run(params, command_id)

    def _measure(self, sample: Sample, command_id: str) -> dict[str, Any]:
        return self.run(dict(sample.info.get("params") or {}), command_id, sample.sample_id, sample.info)

    # -- Instrument ------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            return {**super().status(), "running": len(self._running), "max_parallel": self.config.max_parallel}

    def make_safe(self) -> None:
        """Kill every run still going (their experiments fail; nothing is left running)."""
        with self._lock:
            procs = list(self._running.values())
        for proc in procs:
            self._kill(proc)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.make_safe()
        super().close()

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """From the result file and run marker keyed by this command id (see the module docstring)."""
        template = self.config.result_file
        if not keyed_result_file(template):
            return CommandOutcome(command_id, "unknown")
        path = self._result_path({"result_file": render(template, {"command_id": command_id}, "options.result_file")})
        assert path is not None
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            return CommandOutcome(command_id, "done", obj if isinstance(obj, dict) else None)
        except (OSError, ValueError):
            pass
        marker = self._marker(path)
        record = self._read_marker(marker) if marker is not None else None
        if record is None:
            return CommandOutcome(command_id, "unknown")  # never started
        pid = record.get("pid")
        if isinstance(pid, int) and _alive(pid, record.get("start")):
            return CommandOutcome(command_id, "running")
        why = "ended without a result file" if isinstance(pid, int) else "whether it started cannot be known"
        return CommandOutcome(command_id, "failed", error=why)


__all__ = ["CommandDriver", "CommandOptions", "path_problems", "python_script", "render", "script_items", "tail"]
