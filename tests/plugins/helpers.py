"""Helpers of the plugin tests: the example plugin's sources, and fake installed distributions."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "labpilot-fourpoint"
EXAMPLE_SRC = EXAMPLE / "src"


def fake_distribution(root: Path, name: str, entry_points: str, modules: dict[str, str] | None = None) -> Path:
    """Write an installed-looking distribution under ``root`` (a dist-info with entry points, and its modules).

    ``importlib.metadata`` finds it once ``root`` is on ``sys.path``, as it
    finds a ``pip install``ed package: the real discovery mechanism, no mock.
    """
    dist = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)
    for module, source in (modules or {}).items():
        path = root / (module.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


def env_with_path(*paths: Path) -> dict[str, str]:
    """The environment with ``paths`` put before the current ``PYTHONPATH`` (for subprocesses)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def labpilot_cmd(*args: str) -> list[str]:
    """``python -m labpilot ARGS`` with this interpreter."""
    return [sys.executable, "-m", "labpilot", *args]


def import_example(module: str) -> ModuleType:
    """Import a module of the example plugin from its sources, leaving ``sys.path`` (and the registry) as they were.

    Its modules stay imported; the example never becomes an installed-looking
    distribution for the other tests (an ``egg-info`` left in its ``src/`` by
    a local ``pip install`` would otherwise register its kinds).
    """
    from labpilot import registry

    sys.path.insert(0, str(EXAMPLE_SRC))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(EXAMPLE_SRC))
        registry.clear_cache()
