"""One place that turns instrument results into plain JSON values."""

from __future__ import annotations

import json
from typing import Any


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: numpy arrays and scalars become lists and numbers, anything else its ``str``."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def to_jsonable(obj: Any) -> Any:
    """A deep copy of ``obj`` made only of JSON types (dict, list, str, number, bool, None)."""
    return json.loads(json.dumps(obj, default=json_default))
