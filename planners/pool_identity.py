"""What a candidate pool *is*, apart from where it lies: its size and a hash of its bytes.

A campaign names its pool relative to the campaign file (``[space] pool =
"polymers.parquet"``) and the database stores the path made absolute. Moving
the campaign folder, or opening it from another mount, changes that path but
not the pool; editing the file in place changes the pool but not the path. So
a resumed campaign compares pools by content (``PoolIdentity.same_content``),
and the path is only what it says where the pool was.

The hash is SHA-256 of the whole file streamed in 8 MiB chunks (constant
memory). Hashing the full file, not only Parquet metadata or a sample, means
an edited cell anywhere is seen, and it costs a small part of reading the pool
itself (which every run does): on the 2-core test machine, loaded, about 1.2 s
per GB (2 GB: 2.2-2.5 s at load 5, 1.5 s idle) against 2.2 s to read a 215 MB
CSV pool of 10^5 x 200 (0.3 s to hash it). ``benchmarks/pool_memory.py
--csv-one-pass`` measures both (key ``csv_one_pass``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class PoolIdentity:
    """A pool file's content identity, with where it was found (``path``) and how the campaign wrote it."""

    path: str  # absolute, as resolved when identified
    written: str | None  # the path as the campaign file writes it (relative text), if known
    size: int  # bytes
    sha256: str
    rows: int | None = None  # data rows, when known (the pool was read)
    featurizer: str | None = None  # a ``file.py:function`` featurizer (absolute), which computes descriptors
    featurizer_sha256: str | None = None  # of that file

    def same_content(self, other: "PoolIdentity") -> bool:
        return self.size == other.size and self.sha256 == other.sha256

    def same_featurizer_elsewhere(self, other: "PoolIdentity") -> bool:
        """Both name a featurizer file with the same content and function, at different paths (moved with the folder)."""
        if not (self.featurizer and other.featurizer and self.featurizer_sha256):
            return False
        return (self.featurizer != other.featurizer and self.featurizer_sha256 == other.featurizer_sha256
                and self.featurizer.rpartition(":")[2] == other.featurizer.rpartition(":")[2])

    def describe(self) -> str:
        """``12,345 bytes, 60 rows, sha256 0123abcd...``: what a message says of the content."""
        rows = f", {self.rows:,} rows" if self.rows is not None else ""
        return f"{self.size:,} bytes{rows}, sha256 {self.sha256[:12]}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PoolIdentity | None":
        """From a journal entry; None when it does not hold one (an older entry)."""
        try:
            return cls(str(data["path"]), data.get("written"), int(data["size"]), str(data["sha256"]),
                       None if data.get("rows") is None else int(data["rows"]), data.get("featurizer"),
                       data.get("featurizer_sha256"))
        except (KeyError, TypeError, ValueError):
            return None


def file_sha256(path: str | Path, chunk: int = CHUNK_BYTES) -> str:
    """SHA-256 of a file's bytes, streamed (memory: one chunk)."""
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def featurizer_file(featurizer: str | None) -> Path | None:
    """The file of a ``file.py:function`` (or ``dir/module:function``) featurizer; None for a built-in or module."""
    if not featurizer or ":" not in featurizer:
        return None
    module = featurizer.rpartition(":")[0]
    return Path(module) if module.endswith(".py") or "/" in module else None


def identify(path: str | Path, written: str | None = None, rows: int | None = None,
             featurizer: str | None = None) -> PoolIdentity:
    """The identity of the pool file at ``path``, and of its featurizer's file if any (``OSError``: unreadable)."""
    p = Path(path)
    size = p.stat().st_size
    code = featurizer_file(featurizer)
    code_sha = file_sha256(code) if code is not None and code.is_file() else None
    return PoolIdentity(str(p), written, size, file_sha256(p), rows, featurizer if code else None, code_sha)
