"""A scripted serial peer for expected-byte tests (pymeasure style), on a real pty.

The driver opens the pty's slave path with pyserial; the peer thread owns the
master side, reads each line the driver sends, records it, and answers with
the next scripted reply (``None`` = stay silent, bytes = sent verbatim).
``sent`` is the exact byte sequence the driver wrote, line by line.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from typing import Callable, Iterable

Reply = bytes | None
Rule = tuple[bytes, Reply] | Callable[[bytes], Reply]

#: The reply to ``SYST:ERR?`` when the error queue is empty.
NO_ERROR = b'0,"No error"\n'


def setter(line: bytes, error: bytes = NO_ERROR) -> list[tuple[bytes, Reply]]:
    """A standard SCPI set-command: no reply to it, then the driver's ``SYST:ERR?``."""
    return [(line, None), (b"SYST:ERR?\n", error)]


def greeting(idn: bytes) -> list[tuple[bytes, Reply]]:
    """``*IDN?`` and the drain of old errors that follows it at connect."""
    return [(b"*IDN?\n", idn), (b"SYST:ERR?\n", NO_ERROR)]


class ScriptedPeer:
    """Answers lines from a script: a list of ``(expected_line, reply)`` pairs, in order."""

    def __init__(self, script: Iterable[tuple[bytes, Reply]] = (), responder: Callable[[bytes], Reply] | None = None):
        self.script = list(script)
        self.responder = responder
        self.sent: list[bytes] = []
        self.mismatches: list[str] = []
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _reply_to(self, line: bytes) -> Reply:
        if self.responder is not None and not self.script:
            return self.responder(line)
        if not self.script:
            self.mismatches.append(f"unexpected extra line {line!r}")
            return None
        expected, reply = self.script.pop(0)
        if line != expected:
            self.mismatches.append(f"expected {expected!r}, got {line!r}")
        return reply

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if not ready:
                continue
            try:
                buf += os.read(self._master, 4096)
            except OSError:
                return
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line += b"\n"
                self.sent.append(line)
                reply = self._reply_to(line)
                if reply is not None:
                    os.write(self._master, reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> "ScriptedPeer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self) -> None:
        """Fail if the driver sent anything off-script or left script lines unsent."""
        problems = list(self.mismatches) + [f"never sent {e!r}" for e, _ in self.script]
        assert not problems, "\n".join(problems)
