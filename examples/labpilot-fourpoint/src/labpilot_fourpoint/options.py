"""Options of a driver, validated at connect: a bad one is a ``ConfigurationError`` naming it, not a traceback."""

from __future__ import annotations

from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from labpilot.errors import ConfigurationError

M = TypeVar("M", bound=BaseModel)


def settings(model: type[M], options: Mapping[str, Any] | None, kind: str) -> M:
    """``model`` built from a campaign's ``[instruments.options]``; every problem named as ``options.FIELD``."""
    try:
        return model.model_validate(dict(options or {}))
    except ValidationError as exc:
        problems = "; ".join(f"options.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"{kind}: {problems}") from None
