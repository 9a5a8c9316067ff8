"""``python``: a function is the instrument (a model, a surrogate, a calculation).

Campaign TOML::

    [[instruments]]
    name = "model"
    kind = "python"
    address = "local"
    options = { role = "measure", function = "sim/film_model.py:measure",
                scalars = { hardness = "GPa" } }

``function`` is ``module:function`` (an importable module, ``mylab.models:predict``)
or ``path/to/file.py:function`` (a file, relative to the campaign file's folder:
``load_campaign`` makes it absolute, ``agent.code_refs``; a path given to the
driver directly is relative to the working directory).
It is resolved lazily, on the first call, so validating a campaign imports
nothing; a target that cannot be imported, or names no callable, fails with
one ``ConfigurationError`` naming ``options.function``.

The function is called as ``function(params) -> dict``. A synthesizer gets
the proposal's parameters and may return ``sample_id`` and anything else (kept
as the sample's info); a measurer gets the parameters the sample was made
with (from the synthesizer's info) and returns its declared scalars (and
arrays), either at the top level or under ``"scalars"`` / ``"arrays"``.

An exception raised by the function fails the experiment (``InstrumentError``
with its type and message). A function keeps no memory of command ids, so the
driver cannot reconcile: ``can_reconcile`` is False (a killed agent cannot
know whether a side effect happened; recovery asks an operator).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any, Callable, ClassVar

from pydantic import Field

from labpilot.drivers.generic.local import LocalDriver, LocalOptions
from labpilot.errors import ConfigurationError, InstrumentError
from labpilot.protocols.capabilities import Sample


class PythonOptions(LocalOptions):
    """The function that is the instrument."""

    function: str = Field(min_length=3, pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_.]*$")
    """``module:function`` or ``path/file.py:function``, called as ``function(params) -> dict``."""


def resolve_function(target: str, option: str = "options.function") -> Callable[..., Any]:
    """Import ``module:attr`` or ``file.py:attr`` and return the callable; any failure names ``option``."""
    module_name, _, attr = target.rpartition(":")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            path = Path(module_name).resolve()
            if not path.is_file():
                raise FileNotFoundError(f"no such file {module_name!r} (relative to {Path.cwd()})")
            name = f"labpilot_generic_{hashlib.sha256(str(path).encode()).hexdigest()[:16]}"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"{module_name!r} is not a Python file")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules[name] = module
        else:
            module = importlib.import_module(module_name)
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # an import runs arbitrary code: any error is the target's
        raise ConfigurationError(f"{option} = {target!r} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not callable(obj):
        raise ConfigurationError(f"{option} = {target!r} is a {type(obj).__name__}, not a function")
    return obj


class PythonDriver(LocalDriver):
    """Calls ``function(params) -> dict`` for each synthesis or measurement."""

    kind: ClassVar[str] = "python"
    Options = PythonOptions
    can_reconcile: ClassVar[bool] = False

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self._function: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    @property
    def function(self) -> Callable[..., Any]:
        """The target, imported on first use."""
        with self._lock:
            if self._function is None:
                self._function = resolve_function(self.config.function)
            return self._function

    def _call(self, params: dict[str, Any], command_id: str) -> dict[str, Any]:
        fn = self.function
        try:
            result = fn(params)
        except Exception as exc:
            raise InstrumentError(self.kind, 0, f"{self.config.function} raised {type(exc).__name__}: {exc} "
                                                f"(command id {command_id})") from None
        if not isinstance(result, dict):
            raise InstrumentError(self.kind, 0, f"{self.config.function} returned {type(result).__name__}, "
                                                f"not a dict (command id {command_id})")
        return result

    def _synthesize(self, params: dict[str, Any], command_id: str) -> dict[str, Any]:
        return self._call(params, command_id)

    def _measure(self, sample: Sample, command_id: str) -> dict[str, Any]:
        return self._call(dict(sample.info.get("params") or {}), command_id)


__all__ = ["PythonDriver", "PythonOptions", "resolve_function"]
