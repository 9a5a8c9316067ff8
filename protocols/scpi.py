"""The labpilot SCPI-style line protocol: framing, grammar, typed messages.

Shared by the serial drivers (client side) and the serial simulators (server
side). A plain serial terminal, or any SCPI client such as PyVISA, that knows
nothing of labpilot can talk to an instrument: ASCII lines out, one ASCII
line back for each query.

Framing
    Lines of printable ASCII (0x20-0x7E), terminated by ``\\n``; a ``\\r``
    before the ``\\n`` is accepted and ignored. At most ``MAX_LINE_BYTES``
    bytes per line. Any other byte is a protocol error (that is how a garbled
    frame is detected).

Commands (client → instrument)
    ``HEADER[ ARG[,ARG...]]``. A header is colon-separated mnemonics
    (``SOUR:POW``), optionally starting with ``*`` (common commands such as
    ``*IDN?``) and ending with ``?`` for queries. Headers are
    case-insensitive. Arguments are numbers, tokens (command ids, sample ids,
    keywords such as ``OPEN``) or double-quoted strings (``""`` escapes a
    quote).

Numbers
    SCPI NR1 (``150``), NR2 (``150.0``) and NR3 (``1.5E+2``) are accepted;
    ``inf``/``nan`` are not (a non-finite value is a protocol error), nor is
    a field longer than ``MAX_NUMBER_CHARS``. Numbers are written with
    ``repr(float)``, which round-trips exactly. Every pattern here is
    possessive or unambiguous, so parsing a line is linear in its length (a
    line of 60,000 digits is refused at once, not after a minute of regex
    backtracking).

Replies (instrument → client): standard SCPI (IEEE 488.2), protocol 2.x
    - a query (header ending in ``?``) answers exactly one line: its value(s),
      comma-separated;
    - a set-command or an action start answers nothing;
    - a command the instrument refuses (unknown header, bad parameter, a
      query it cannot execute) answers nothing: the error goes to the error
      queue only (``SYST:ERR?``) and sets its bit of ``*ESR?``.
    So a client confirms a setter with a query after it: ``SYST:ERR?`` (the
    error it caused, or ``0,"No error"``) or ``*OPC?`` (``1`` once every
    earlier command is processed). Labpilot's drivers write the setter and
    ``SYST:ERR?`` together and re-send both when the reply is lost or garbled
    (setters are idempotent, actions carry a command id). A query that gets
    no reply is followed by ``SYST:ERR?`` to tell a refused query from a lost
    reply. Protocol 1.x (every command answered, ``OK`` / ``ERR`` lines) is
    no longer spoken; ``check_reply`` still recognises an ``ERR`` line.

Common commands
    ``*IDN?`` → ``<vendor>,<model>,<serial>,<protocol version>`` e.g.
    ``LABPILOT,SPUTTER-SIM,0001,2.0``. Clients refuse an instrument whose
    protocol major version differs from ``PROTOCOL_VERSION``'s.
    ``SYST:ERR?`` → ``0,"No error"`` or ``<code>,"<message>"``: pops the
    oldest entry of the error queue (SCPI semantics; codes are negative SCPI
    standard codes or positive instrument-specific ones).
    ``*OPC?`` → ``1``; ``*ESR?`` → the event register (bits OPC 1, QYE 4,
    DDE 8, EXE 16, CME 32), cleared by reading; ``*RST`` (safe state) and
    ``*CLS`` (clears the error queue) answer nothing.

Actions with a command id (non-idempotent, long-running, overlapped)
    ``<ACT>:START <id>[,...]`` starts at once and answers nothing (the action
    runs on the instrument's clock); sending the same id again does nothing
    (duplicate suppression).
    ``<ACT>:STAT? <id>`` → ``RUNNING,<progress 0-1>`` | ``DONE,<sample_id>`` |
    ``FAILED,<code>,"<message>"`` | ``UNKNOWN`` (never heard of that id).
    ``<ACT>:RES? <id>`` → the action's result fields (instrument-specific).
    An action ended by a command (abort, ``*RST``) is ``FAILED,210,...`` with
    nothing queued; a hardware fault during an action is also queued.
    Command ids are ``COMMAND_ID_PATTERN`` tokens.

Instrument command sets are documented in each simulator module
(``simulators/sputter_sim.py`` ...).
"""

from __future__ import annotations

from labpilot.errors import ScpiProtocolError
import math
import re
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, field_validator

#: Version of this wire protocol, reported as the 4th ``*IDN?`` field.
PROTOCOL_VERSION = "2.0"
#: Longest line (terminator included) either side may send.
MAX_LINE_BYTES = 65536
#: Longest error message an instrument sends (SCPI caps error strings at 255 characters).
MAX_ERROR_MESSAGE_CHARS = 255
#: Longest number field: ``repr(float)`` needs at most 24 characters.
MAX_NUMBER_CHARS = 100
#: Command ids and sample ids on the wire.
COMMAND_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:@/+\-]{0,79}"

# Possessive quantifiers (``*+``, ``++``): a failing match never backtracks, so it is linear.
_HEADER_RE = re.compile(r"\*?[A-Za-z][A-Za-z0-9]*+(?::[A-Za-z][A-Za-z0-9]*+)*+\??")
_NUMBER_RE = re.compile(r"[+-]?(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][+-]?\d++)?")
_INT_RE = re.compile(r"[+-]?\d{1,18}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_.:@/+\-]++")
_PRINTABLE = bytes(range(0x20, 0x7F))
_ID_RE = re.compile(COMMAND_ID_PATTERN)


Arg = float | int | str


# --------------------------------------------------------------------- framing


def decode_line(raw: bytes) -> str:
    """One received line (with or without its terminator) → text.

    Raises ``ScpiProtocolError`` naming the first offending byte and its
    position if the line is not printable ASCII, or if it is too long.
    """
    if not isinstance(raw, (bytes, bytearray)):
        raise ScpiProtocolError(f"a line must be bytes, got {type(raw).__name__}")
    if len(raw) > MAX_LINE_BYTES:
        raise ScpiProtocolError(f"line of {len(raw)} bytes exceeds the {MAX_LINE_BYTES}-byte limit")
    body = bytes(raw)
    if body.endswith(b"\n"):
        body = body[:-1]
    if body.endswith(b"\r"):
        body = body[:-1]
    bad = body.translate(None, _PRINTABLE)  # C speed: no Python loop over a 64 KiB line
    if bad:
        i = body.index(bad[:1])
        raise ScpiProtocolError(
            f"byte 0x{body[i]:02x} at position {i} is not printable ASCII (garbled line {bytes(raw)[:60]!r})"
        )
    return body.decode("ascii")


def encode_line(text: str) -> bytes:
    """Text → one ``\\n``-terminated ASCII line; refuses what could not be decoded."""
    data = text.encode("ascii", errors="strict") if text.isascii() else None
    if data is None:
        raise ScpiProtocolError(f"line {text[:60]!r} is not ASCII")
    line = data + b"\n"
    decode_line(line)  # same rules both ways
    return line


# --------------------------------------------------------------------- fields


def format_number(value: float | int) -> str:
    """A finite number in a form ``parse_number`` reads back exactly."""
    if isinstance(value, bool):
        raise ScpiProtocolError(f"{value!r} is a bool, not a number")
    if isinstance(value, int):
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        raise ScpiProtocolError(f"cannot send the non-finite number {value!r}")
    return repr(x)


def parse_number(text: str, what: str = "number") -> float:
    """An NR1/NR2/NR3 field → float; anything else (or non-finite) → ScpiProtocolError."""
    s = text.strip()
    if len(s) > MAX_NUMBER_CHARS:
        raise ScpiProtocolError(f"{what}: a field of {len(s)} characters is too long for a number (limit {MAX_NUMBER_CHARS})")
    if not _NUMBER_RE.fullmatch(s):
        raise ScpiProtocolError(f"{what}: {s[:40]!r} is not a number")
    x = float(s)
    if not math.isfinite(x):
        raise ScpiProtocolError(f"{what}: {s[:40]!r} is out of range")
    return x


def parse_int(text: str, what: str = "integer") -> int:
    """An NR1 field → int."""
    s = text.strip()
    if len(s) > 20 or not _INT_RE.fullmatch(s):
        raise ScpiProtocolError(f"{what}: {s[:40]!r} is not an integer")
    return int(s)


def quote(text: str) -> str:
    """A double-quoted string field (``""`` escapes a quote)."""
    return '"' + text.replace('"', '""') + '"'


def check_id(value: str, what: str = "command id") -> str:
    """Validate a command/sample id for the wire; ValueError naming it if unfit."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise ScpiProtocolError(
            f"{what} {value[:40] if isinstance(value, str) else value!r} is not a valid id: "
            "1-80 characters of letters, digits and _.:@/+- "
            "starting with a letter or digit"
        )
    return value


def split_fields(text: str) -> list[str]:
    """Split a comma-separated field list; quoted strings are unquoted.

    ``'0,"No error, really"'`` → ``['0', 'No error, really']``. An
    unterminated quote or text after a closing quote is a protocol error.
    """
    fields: list[str] = []
    i, n = 0, len(text)
    if n == 0:
        return []
    while True:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            buf: list[str] = []
            while True:
                if i >= n:
                    raise ScpiProtocolError(f"unterminated quoted string in {text[:60]!r}")
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(text[i])
                i += 1
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] != ",":
                raise ScpiProtocolError(f"unexpected {text[i]!r} after a quoted string in {text[:60]!r}")
            fields.append("".join(buf))
        else:
            j = text.find(",", i)
            j = n if j < 0 else j
            field = text[i:j].strip()
            if '"' in field:
                raise ScpiProtocolError(f"stray quote in field {field[:40]!r}")
            fields.append(field)
            i = j
        if i >= n:
            return fields
        i += 1  # skip the comma
        if i >= n:
            fields.append("")
            return fields


def _arg_text(value: Arg) -> str:
    """A Python argument → its unquoted field text (numbers formatted exactly)."""
    if isinstance(value, str):
        return value
    return _format_arg(value)


def _format_arg(value: Arg) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    if isinstance(value, str):
        return value if _TOKEN_RE.fullmatch(value) else quote(value)
    raise ScpiProtocolError(f"argument {value!r} of type {type(value).__name__} cannot be sent")


# --------------------------------------------------------------------- messages


class Command(BaseModel):
    """One command line: an upper-cased header and its argument fields (unquoted text)."""

    model_config = ConfigDict(frozen=True)

    header: str
    args: tuple[str, ...] = ()

    @field_validator("header")
    @classmethod
    def _header_ok(cls, v: str) -> str:
        if not _HEADER_RE.fullmatch(v):
            raise ValueError(f"{v[:40]!r} is not a valid command header")
        return v.upper()

    @property
    def is_query(self) -> bool:
        """Queries end with ``?``."""
        return self.header.endswith("?")

    @classmethod
    def build(cls, header: str, *args: Arg) -> "Command":
        """Make a command from Python values (numbers formatted, strings quoted if needed)."""
        try:
            return cls(header=header, args=tuple(_arg_text(a) for a in args))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            if isinstance(exc, ScpiProtocolError):
                raise
            raise ScpiProtocolError(str(exc)) from None

    def text(self) -> str:
        """The line without its terminator."""
        if not self.args:
            return self.header
        return self.header + " " + ",".join(
            a if _TOKEN_RE.fullmatch(a) else quote(a) for a in self.args
        )

    def encode(self) -> bytes:
        """The bytes to write."""
        return encode_line(self.text())

    @classmethod
    def parse(cls, raw: bytes | str) -> "Command":
        """Parse one received command line; ScpiProtocolError if it breaks the grammar."""
        text = decode_line(raw) if isinstance(raw, (bytes, bytearray)) else raw
        text = text.strip()
        if not text:
            raise ScpiProtocolError("empty command line")
        header, _, rest = text.partition(" ")
        if not _HEADER_RE.fullmatch(header):
            raise ScpiProtocolError(f"{header[:40]!r} is not a valid command header")
        args = tuple(split_fields(rest.strip())) if rest.strip() else ()
        return cls(header=header, args=args)


class Identity(BaseModel):
    """The four ``*IDN?`` fields."""

    vendor: str
    model: str
    serial: str
    version: str

    @classmethod
    def parse(cls, reply: str) -> "Identity":
        """Parse an ``*IDN?`` reply; exactly four fields."""
        fields = split_fields(reply)
        if len(fields) != 4 or not all(fields):
            raise ScpiProtocolError(f"*IDN? reply {reply[:80]!r} is not vendor,model,serial,version")
        return cls(vendor=fields[0], model=fields[1], serial=fields[2], version=fields[3])

    def text(self) -> str:
        """The reply line an instrument sends."""
        return ",".join((self.vendor, self.model, self.serial, self.version))

    def check_compatible(self, expected: str = PROTOCOL_VERSION) -> None:
        """Refuse an instrument whose protocol major version differs from ``expected``'s."""
        major = expected.split(".")[0]
        m = re.fullmatch(r"(\d+)(?:\.\d+)*", self.version)
        if m is None or m.group(1) != major:
            raise ScpiProtocolError(
                f"instrument {self.vendor} {self.model} #{self.serial} speaks protocol "
                f"{self.version!r}; this driver needs protocol {major}.x ({expected})"
            )


class ErrorEntry(BaseModel):
    """One entry of the instrument's error queue (code 0 = no error)."""

    code: int
    message: str

    @classmethod
    def parse(cls, reply: str) -> "ErrorEntry":
        """Parse ``<code>,"<message>"`` (the reply to ``SYST:ERR?``)."""
        fields = split_fields(reply)
        if len(fields) != 2:
            raise ScpiProtocolError(f"error entry {reply[:80]!r} is not <code>,\"<message>\"")
        return cls(code=parse_int(fields[0], "error code"), message=fields[1])

    def text(self) -> str:
        """The reply line (``0,"No error"``)."""
        return f"{self.code},{quote(self.message)}"


NO_ERROR = ErrorEntry(code=0, message="No error")


class ActionStatus(BaseModel):
    """The reply to ``<ACT>:STAT? <id>``."""

    state: Literal["unknown", "running", "done", "failed"]
    progress: float | None = None
    sample_id: str | None = None
    code: int | None = None
    message: str | None = None

    @classmethod
    def parse(cls, reply: str) -> "ActionStatus":
        """Parse ``RUNNING,p`` | ``DONE,sid`` | ``FAILED,code,"msg"`` | ``UNKNOWN``."""
        fields = split_fields(reply)
        word = fields[0].upper() if fields else ""
        if word == "UNKNOWN" and len(fields) == 1:
            return cls(state="unknown")
        if word == "RUNNING" and len(fields) == 2:
            p = parse_number(fields[1], "progress")
            if not 0.0 <= p <= 1.0:
                raise ScpiProtocolError(f"progress {p} is outside [0, 1]")
            return cls(state="running", progress=p)
        if word == "DONE" and len(fields) == 2:
            return cls(state="done", sample_id=check_id(fields[1], "sample id"))
        if word == "FAILED" and len(fields) == 3:
            return cls(state="failed", code=parse_int(fields[1], "error code"), message=fields[2])
        raise ScpiProtocolError(f"status reply {reply[:80]!r} is not RUNNING/DONE/FAILED/UNKNOWN")

    def text(self) -> str:
        """The reply line an instrument sends."""
        if self.state == "unknown":
            return "UNKNOWN"
        if self.state == "running":
            return f"RUNNING,{format_number(float(self.progress or 0.0))}"
        if self.state == "done":
            return f"DONE,{self.sample_id}"
        return f"FAILED,{self.code},{quote(self.message or '')}"


class ErrorReply(BaseModel):
    """An ``ERR <code>,"<message>"`` reply: the instrument refused the command."""

    code: int
    message: str

    def text(self) -> str:
        """The reply line."""
        return f"ERR {self.code},{quote(self.message)}"


def check_reply(reply: str) -> ErrorReply | None:
    """``ErrorReply`` if the line is an ``ERR ...`` reply, else ``None``."""
    if reply.startswith("ERR ") or reply == "ERR":
        entry = ErrorEntry.parse(reply[4:])
        return ErrorReply(code=entry.code, message=entry.message)
    return None


def parse_numbers(reply: str, count: int | None = None, what: str = "reply") -> list[float]:
    """A comma-separated list of numbers (exactly ``count`` if given)."""
    fields = split_fields(reply)
    if count is not None and len(fields) != count:
        raise ScpiProtocolError(f"{what}: expected {count} numbers, got {len(fields)} in {reply[:80]!r}")
    return [parse_number(f, what) for f in fields]


def parse_reply(raw: bytes) -> str:
    """A received reply line → text (validated framing)."""
    text = decode_line(raw)
    if not text:
        raise ScpiProtocolError("empty reply line")
    return text


def join_fields(values: Sequence[Arg]) -> str:
    """Format reply fields: numbers exactly, tokens bare, other text quoted."""
    return ",".join(_format_arg(v) for v in values)


# SCPI standard error codes used by the simulators and understood by drivers.
ERR_COMMAND = -100  # command error (unknown header)
ERR_PARAMETER = -108  # parameter not allowed / wrong count
ERR_DATA_TYPE = -104  # data type error
ERR_SETTINGS_CONFLICT = -221
ERR_OUT_OF_RANGE = -222
ERR_HARDWARE = -240
ERR_EXECUTION = -200
ERR_QUEUE_OVERFLOW = -350
