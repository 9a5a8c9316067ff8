"""Fuzz every labpilot codec, in process and over its real transport: frames/s, crashes, hangs, slowest frame.

The longer companion of the bounded Hypothesis tests (issue 14). A seeded
mutational fuzzer starts from valid frames of each protocol and mutates them
(byte flips, insertions, deletions, splices, truncations) and plants hostile
snippets: digit runs up to 70,000 long, bracket runs up to 200,000 deep,
``NaN``/``Infinity``/``1e999``, runs of escaped quotes, control bytes.

Each frame is classified:

- *refused*: the codec's own error (``ScpiProtocolError``, ``EnvelopeError``,
  ``ControlProtocolError``) or an error reply; *accepted*: it decoded;
- *crash*: any other exception in process, or a server process/thread that
  died or stopped answering;
- *hang*: a frame that took longer than ``--hang-s`` (default 1 s).

Codecs in process: the SCPI device (``ScpiDevice.handle_line``, which must
never raise), SCPI replies on the client side, the ZeroMQ envelope
(requests; replies with wire arrays), the control requests
(``decode_request``). Transports: the control endpoint (``ControlServer``
thread, REQ socket on loopback), the xrd simulator process (ZeroMQ), the
sputter simulator process (a pty, through pyserial).

Baselines from the same run: each codec's throughput on its valid frames
only; plain ``json.loads`` on the same valid JSON frames; and the SCPI number
pattern as first written (quadratic) against the current one on a
16,000-digit number.

Run by hand, a few minutes at most on 2 cores:
``nice -n 10 .venv/bin/python -m benchmarks.fuzz_codecs [--frames 100000] [--transport-frames 5000]``.
Writes ``benchmarks/results/fuzz_codecs.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import machine

from labpilot.agent.control import messages as cm
from labpilot.agent.control.server import ControlServer
from labpilot.errors import ControlProtocolError, EnvelopeError, ScpiProtocolError
from labpilot.protocols import envelope as env
from labpilot.protocols import scpi
from labpilot.protocols.json_codec import decode_json_object

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"


# ------------------------------------------------------------------ corpus


def control_corpus() -> list[bytes]:
    reqs = [
        cm.make_request("ping"), cm.make_request("status"), cm.make_request("queue"),
        cm.make_request("pause", {"now": True}), cm.make_request("resume"),
        cm.make_request("abort", {"reason": "end of shift"}), cm.make_request("approve", {"id": 12}),
        cm.make_request("reject", {"id": 3, "reason": "too much Pt"}),
        cm.make_request("override", {"id": 4, "values": {"Fe": 0.7, "Co": 0.3, "phase": "fcc", "n": 2}}),
        cm.make_request("status", token="benchmark-token-0123456789abcdef"),
    ]
    return [cm.encode_request(r) for r in reqs]


def envelope_request_corpus() -> list[bytes]:
    reqs = [
        env.Request(id="r1", cmd="hello", version="1.0"),
        env.Request(id="r2", cmd="status", args={"command_id": "c-17"}),
        env.Request(id="r3", cmd="scan", args={"command_id": "c-18", "sample_id": "S0001", "start": 20.0,
                                                "stop": 90.0, "step": 0.02}),
        env.Request(id="r4", cmd="result", args={"command_id": "c-18"}),
        env.Request(id="r5", cmd="safe"),
    ]
    return [env.encode_request(r) for r in reqs]


def envelope_reply_corpus() -> list[bytes]:
    x = np.linspace(20.0, 90.0, 200)
    replies = [
        env.Reply.success("r1", {"protocol": "labpilot-zmq", "version": "1.0", "instrument": "xrd", "idn": "X"}),
        env.Reply.success("r4", {"two_theta": env.encode_array(x), "counts": env.encode_array(np.sin(x), "<f4"),
                                 "peaks": [{"two_theta": 44.6, "fwhm": 0.21}], "n": 200}),
        env.Reply.failure("r3", env.ERR_BUSY, "xrd is busy with 'c-17'"),
        env.Reply.success("r2", {"command_id": "c-17", "state": "running", "duration_s": 1050.0}),
    ]
    return [env.encode_reply(r) for r in replies]


def scpi_command_corpus() -> list[bytes]:
    return [b"*IDN?\n", b"SYST:ERR?\n", b"PRES 0.5\n", b"PRES?\n", b"SOUR:POW 1,120.5\n", b"GAS:FLOW 20\n", b"SOUR:POW? 2\n", b"STAT?\n",
            b"DEP:START c-1,S0001\n", b"DEP:STAT? c-1\n", b'DEP:RES? "c-1"\n', b"*RST\n", b"TEMP 1.5E+2\n"]


def scpi_reply_corpus() -> list[bytes]:
    return [b"LABPILOT,SPUTTER-SIM,0001,1.0\n", b'0,"No error"\n', b"RUNNING,0.25\n", b"DONE,S0001\n",
            b'FAILED,250,"hardware fault"\n', b"UNKNOWN\n", b'ERR -222,"Data out of range; pressure"\n',
            b"0.5,120.25,1.5E+2\n"]


# ------------------------------------------------------------------ mutation

_SNIPPETS: list[Callable[[random.Random], bytes]] = [
    lambda r: b"9" * _big(r, 70_000),
    lambda r: b"1" * _big(r, 70_000) + r.choice([b"x", b".5", b"e5x", b""]),
    lambda r: b"[" * _big(r, 200_000),
    lambda r: b"[" * (n := _big(r, 5_000)) + b"]" * n,
    lambda r: b'{"a":' * _big(r, 20_000),
    lambda r: b'\\"' * _big(r, 50_000),
    lambda r: r.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-0", b"true", b"null", b'""', b"{}", b"[]"]),
    lambda r: bytes([r.choice([0, 0x7F, 0x80, 0xFF, 0x0A, 0x0D, 0x22, 0x5C])]) * r.randint(1, 4),
    lambda r: b'"' + b"a" * _big(r, 10_000),
    lambda r: b',"id":' + str(r.randint(-10, 10) * 10 ** r.randint(0, 30)).encode(),
]


def _big(r: random.Random, limit: int) -> int:
    """Log-uniform in 1..limit: mostly small, sometimes huge."""
    return int(np.exp(r.uniform(0.0, np.log(limit))))


_VALUES: list[Callable[[random.Random], bytes]] = [
    lambda r: b"9" * _big(r, 70_000),
    lambda r: b"-" + b"1" * _big(r, 5_000),
    lambda r: str(r.choice([-1, 0, 2**31, 2**63 - 1, 2**63, 2**64, 10**30])).encode(),
    lambda r: b"[" * (n := _big(r, 3_000)) + b"]" * n,
    lambda r: b'{"a":' * (n := _big(r, 3_000)) + b"1" + b"}" * n,
    lambda r: r.choice([b"NaN", b"Infinity", b"1e999", b"-1e-999", b"0.1", b"true", b"null", b"{}", b"[]", b'""']),
    lambda r: json.dumps("x" * _big(r, 100_000)).encode(),
    lambda r: json.dumps(r.choice(["", "BAD CMD", "hello", "scan", "status", "approve", "ping", "\u00e9"])).encode(),
]


def mutate_json(r: random.Random, frame: bytes) -> bytes:
    """Structure-aware: replace (or add) one value of a valid JSON frame with a hostile one.

    Unlike byte mutations, these frames stay well-formed around the hostile
    value, so they reach validation, dispatch and the instrument's handlers.
    """
    obj = json.loads(frame)
    node, key = obj, None
    while True:
        keys = list(node) if isinstance(node, dict) else []
        if not keys or r.random() < 0.3:
            key = r.choice(keys + ["extra"]) if keys else "extra"
            break
        key = r.choice(keys)
        if not isinstance(node[key], dict):
            break
        node = node[key]
    node[key] = "\u0000MARK"
    text = json.dumps(obj).encode()
    return text.replace(b'"\\u0000MARK"', r.choice(_VALUES)(r), 1)


def mutate(r: random.Random, frame: bytes, corpus: list[bytes]) -> bytes:
    if frame.startswith(b"{") and r.random() < 0.4:
        return mutate_json(r, frame)
    data = bytearray(frame)
    for _ in range(r.randint(1, 4)):
        op = r.randrange(7)
        i = r.randint(0, len(data))
        if op == 0 and data:
            data[min(i, len(data) - 1)] = r.randrange(256)
        elif op == 1:
            data[i:i] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
        elif op == 2:
            del data[i : i + r.randint(1, 16)]
        elif op == 3:
            data[i:i] = data[i : i + r.randint(1, 32)]
        elif op == 4:
            data = data[:i]
        elif op == 5:
            other = r.choice(corpus)
            j = r.randint(0, len(other))
            data = data[:i] + other[j:]
        else:
            data[i:i] = r.choice(_SNIPPETS)(r)
    return bytes(data)


# ------------------------------------------------------------------ results


@dataclass
class Tally:
    """What one codec or transport did with its frames."""

    name: str
    hang_s: float
    frames: int = 0
    refused: int = 0
    accepted: int = 0
    crashes: int = 0
    hangs: int = 0
    seconds: float = 0.0
    slowest_s: float = 0.0
    slowest_frame: str = ""
    slowest_bytes: int = 0
    crash_examples: list[str] = field(default_factory=list)
    valid_fps: float | None = None
    json_loads_valid_fps: float | None = None

    def record(self, frame: bytes, dt: float, outcome: str, detail: str = "") -> None:
        self.frames += 1
        self.seconds += dt
        if outcome == "crash":
            self.crashes += 1
            if len(self.crash_examples) < 5:
                self.crash_examples.append(f"{detail} on {frame[:80]!r} ({len(frame)} bytes)")
        elif outcome == "refused":
            self.refused += 1
        else:
            self.accepted += 1
        if dt > self.hang_s:
            self.hangs += 1
        if dt > self.slowest_s:
            self.slowest_s, self.slowest_bytes = dt, len(frame)
            self.slowest_frame = repr(frame[:60]) + ("..." if len(frame) > 60 else "")

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in {"seconds", "hang_s"}}
        out["fuzzed_fps"] = round(self.frames / self.seconds) if self.seconds else None
        out["seconds"] = round(self.seconds, 2)
        out["slowest_s"] = round(self.slowest_s, 6)
        return out


def run_in_process(name: str, decode: Callable[[bytes], Any], errors: tuple[type[BaseException], ...],
                   corpus: list[bytes], n: int, seed: int, hang_s: float, json_corpus: bool) -> Tally:
    """Fuzz one codec in process: ``decode`` either returns, raises one of ``errors``, or crashes."""
    tally = Tally(name, hang_s)
    valid = corpus * max(1, 2000 // len(corpus))
    t0 = time.perf_counter()
    for frame in valid:
        try:
            decode(frame)
        except errors:
            pass
    tally.valid_fps = round(len(valid) / (time.perf_counter() - t0))
    if json_corpus:
        t0 = time.perf_counter()
        for frame in valid:
            json.loads(frame)
        tally.json_loads_valid_fps = round(len(valid) / (time.perf_counter() - t0))
    r = random.Random(seed)
    for _ in range(n):
        frame = mutate(r, r.choice(corpus), corpus)
        t0 = time.perf_counter()
        try:
            decode(frame)
            outcome, detail = "accepted", ""
        except errors:
            outcome, detail = "refused", ""
        except BaseException as exc:  # noqa: BLE001 - that is what we count
            outcome, detail = "crash", f"{type(exc).__name__}: {str(exc)[:100]}"
        tally.record(frame, time.perf_counter() - t0, outcome, detail)
    return tally


# ---------------------------------------------------------------- transports


def run_control_endpoint(n: int, seed: int, hang_s: float) -> Tally:
    import zmq

    class Trivial:
        def handle(self, request: Any) -> dict[str, Any]:
            return {"state": "measuring"}

    tally = Tally("control endpoint (ZeroMQ REQ/REP, loopback)", hang_s)
    corpus = control_corpus()
    r = random.Random(seed)
    with ControlServer(Trivial()) as srv:
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.REQ)
        sock.linger = 0
        sock.connect(srv.endpoint)
        for _ in range(n):
            frame = mutate(r, r.choice(corpus), corpus)
            t0 = time.perf_counter()
            sock.send(frame)
            if not sock.poll(int(max(hang_s, 5.0) * 1000)):
                tally.record(frame, time.perf_counter() - t0, "crash", "no reply")
                sock.close()
                sock = ctx.socket(zmq.REQ)
                sock.linger = 0
                sock.connect(srv.endpoint)
                continue
            reply = json.loads(sock.recv())
            tally.record(frame, time.perf_counter() - t0, "accepted" if reply["ok"] else "refused")
        sock.close()
        if not srv.running or srv.dead:
            tally.crashes += 1
            tally.crash_examples.append(f"serving thread dead: {srv.dead}")
    return tally


def run_xrd_process(n: int, seed: int, hang_s: float) -> Tally:
    import zmq

    from labpilot.simulators.process import SimulatorProcess

    tally = Tally("xrd simulator process (ZeroMQ ROUTER, loopback)", hang_s)
    corpus = envelope_request_corpus()
    r = random.Random(seed)
    with SimulatorProcess("xrd", "--zmq", "tcp://127.0.0.1:0") as sim:
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.REQ)
        sock.linger = 0
        sock.connect(sim.address)
        for _ in range(n):
            frame = mutate(r, r.choice(corpus), corpus)
            t0 = time.perf_counter()
            sock.send(frame)
            if not sock.poll(int(max(hang_s, 5.0) * 1000)):
                tally.record(frame, time.perf_counter() - t0, "crash", "no reply")
                break
            reply = env.decode_reply(sock.recv())
            tally.record(frame, time.perf_counter() - t0, "accepted" if reply.ok else "refused")
        sock.close()
        assert sim.proc is not None
        if sim.proc.poll() is not None:
            tally.crashes += 1
            tally.crash_examples.append(f"process exited with {sim.proc.returncode}: {sim.stderr_text()[-300:]}")
    return tally


def run_sputter_pty(n: int, seed: int, hang_s: float) -> Tally:
    import serial

    from labpilot.simulators.process import SimulatorProcess

    tally = Tally("sputter simulator process (SCPI over a pty)", hang_s)
    corpus = scpi_command_corpus()
    r = random.Random(seed)
    with SimulatorProcess("sputter", "--pty") as sim:
        with serial.Serial(sim.address, timeout=max(hang_s, 5.0)) as port:
            for _ in range(n):
                body = mutate(r, r.choice(corpus), corpus).replace(b"\n", b" ").replace(b"\r", b" ")
                frame = body[: scpi.MAX_LINE_BYTES - 1].strip() or b"*IDN?"
                t0 = time.perf_counter()
                port.write(frame + b"\n")
                reply = port.readline()
                dt = time.perf_counter() - t0
                if not reply.endswith(b"\n"):
                    tally.record(frame, dt, "crash", "no reply line")
                    break
                tally.record(frame, dt, "refused" if reply.startswith(b"ERR") else "accepted")
        assert sim.proc is not None
        if sim.proc.poll() is not None:
            tally.crashes += 1
            tally.crash_examples.append(f"process exited with {sim.proc.returncode}")
    return tally


# --------------------------------------------------------------------- main


def scpi_regex_baseline() -> dict[str, Any]:
    """The SCPI number pattern as first written vs now, on the issue's 16,000-digit failing number."""
    old = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
    text = "1" * 16_000 + "x"
    t0 = time.perf_counter()
    assert old.fullmatch(text) is None
    old_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert scpi._NUMBER_RE.fullmatch(text) is None
    new_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        scpi.parse_number("1" * 60_000 + "x")
    except ScpiProtocolError:
        pass
    return {"digits": 16_000, "original_pattern_s": round(old_s, 4), "current_pattern_s": round(new_s, 6),
            "parse_number_60000_digits_s": round(time.perf_counter() - t0, 6)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=100_000, help="fuzzed frames per in-process codec")
    p.add_argument("--transport-frames", type=int, default=5_000, help="fuzzed frames per transport")
    p.add_argument("--seed", type=int, default=0, help="seed of the mutations")
    p.add_argument("--hang-s", type=float, default=1.0, help="a frame slower than this counts as a hang")
    p.add_argument("--out", type=Path, default=OUT / "fuzz_codecs.json", help="JSON results file")
    args = p.parse_args(argv)

    from labpilot.simulators.sputter_sim import SputterDevice

    device = SputterDevice()
    started = time.perf_counter()
    info = machine()
    baseline = scpi_regex_baseline()
    print(f"machine: {info}")
    print(f"baseline: SCPI number pattern on {baseline['digits']} digits: original "
          f"{baseline['original_pattern_s']} s, current {baseline['current_pattern_s']} s", flush=True)

    def reply_side(raw: bytes) -> Any:
        text = scpi.parse_reply(raw)
        scpi.check_reply(text)
        for parse in (scpi.ActionStatus.parse, scpi.ErrorEntry.parse, scpi.Identity.parse, scpi.parse_numbers):
            try:
                parse(text)
            except ScpiProtocolError:
                pass

    class Refused(Exception):
        """An ``ERR`` line from the device: the protocol's refusal."""

    def device_line(raw: bytes) -> str:
        reply = device.handle_line(raw)
        if reply.startswith("ERR"):
            raise Refused(reply)
        return reply

    all_json = control_corpus() + envelope_request_corpus() + envelope_reply_corpus()
    in_process = [
        ("scpi device (handle_line, never raises)", device_line, (Refused,), scpi_command_corpus(), False),
        ("scpi replies (client side)", reply_side, (ScpiProtocolError,), scpi_reply_corpus(), False),
        ("envelope requests", env.decode_request, (EnvelopeError,), envelope_request_corpus(), True),
        ("envelope replies + arrays", lambda b: env.decode_arrays(env.decode_reply(b).result), (EnvelopeError,),
         envelope_reply_corpus(), True),
        ("control requests", cm.decode_request, (ControlProtocolError,), control_corpus(), True),
        ("json codec alone (decode_json_object)",
         lambda b: decode_json_object(b, what="frame", error=EnvelopeError, max_bytes=env.MAX_FRAME_BYTES),
         (EnvelopeError,), all_json, True),
    ]
    tallies: list[Tally] = []
    for i, (name, decode, errors, corpus, is_json) in enumerate(in_process):
        tally = run_in_process(name, decode, errors, corpus, args.frames, args.seed + i, args.hang_s, is_json)
        tallies.append(tally)
        print(_line(tally), flush=True)
    for i, run in enumerate((run_control_endpoint, run_xrd_process, run_sputter_pty)):
        tally = run(args.transport_frames, args.seed + 100 + i, args.hang_s)
        tallies.append(tally)
        print(_line(tally), flush=True)

    result = {
        "benchmark": "fuzz_codecs",
        "machine": info,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "baseline_scpi_number_pattern": baseline,
        "codecs": [t.summary() for t in tallies],
        "total_crashes": sum(t.crashes for t in tallies),
        "total_hangs": sum(t.hangs for t in tallies),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"crashes {result['total_crashes']}, hangs {result['total_hangs']}, {result['wall_s']} s; wrote {args.out}")
    return 1 if result["total_crashes"] or result["total_hangs"] else 0


def _line(t: Tally) -> str:
    s = t.summary()
    extra = f", valid-only {s['valid_fps']}/s" if s["valid_fps"] else ""
    extra += f" (json.loads {s['json_loads_valid_fps']}/s)" if s["json_loads_valid_fps"] else ""
    return (f"{t.name:<50} {t.frames:>7} frames {s['fuzzed_fps']:>7}/s{extra}; refused {t.refused}, "
            f"accepted {t.accepted}, crashes {t.crashes}, hangs {t.hangs}; slowest {s['slowest_s'] * 1e3:.2f} ms "
            f"({t.slowest_bytes} bytes: {t.slowest_frame[:40]})")


if __name__ == "__main__":
    raise SystemExit(main())
