"""labpilot: an autonomous-lab agent (plan -> synthesize -> measure -> learn).

The subpackages live in the repository's top-level folders (``agent/``,
``drivers/``, ``planners/``, ``protocols/``, ``simulators/``) and are mapped
into this one namespace by ``pyproject.toml``, so nothing generic is installed
at the top level of site-packages.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("labpilot")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
