"""One vocabulary of acquisition names for every single-objective planner.

``bo`` used to call its acquisitions ``qlognei``/``qucb`` and ``ae-bo``
``logei``/``ucb``, so an option that worked for one was refused by the other
(``labpilot backtest --help`` even showed ``{"bo": {"acquisition": "ucb"}}``,
which ``bo`` refused). The names are now the same everywhere:

* ``logei``: log expected improvement. ``bo`` computes it as batch log *noisy*
  EI (BoTorch ``qLogNoisyExpectedImprovement``) in continuous spaces and as
  analytic log-EI over the best posterior mean at a measured point in pools;
  ``ae-bo`` as the latter.
* ``ucb``: upper confidence bound, mean + sqrt(beta) * std (``qUpperConfidenceBound``
  in continuous spaces).

The older spellings stay accepted as aliases (``qlognei``, ``qnei``,
``lognei`` -> ``logei``; ``qucb`` -> ``ucb``), so existing campaign files keep
working; ``canonical`` maps any of them to the one name and refuses others
with the list of names.
"""

from __future__ import annotations

from labpilot.errors import PlannerError

#: The acquisition names, with what each means.
ACQUISITIONS: dict[str, str] = {
    "logei": "log expected improvement (noisy, batch in continuous spaces)",
    "ucb": "upper confidence bound, mean + sqrt(beta) * std",
}

#: Older or alternative spellings -> the one name.
ALIASES: dict[str, str] = {"qlognei": "logei", "qnei": "logei", "lognei": "logei", "qucb": "ucb"}


def canonical(planner: str, name: object) -> str:
    """The one name of acquisition ``name`` (an alias is translated); a ``PlannerError`` otherwise."""
    if isinstance(name, str):
        key = name.strip().lower()
        if key in ACQUISITIONS:
            return key
        if key in ALIASES:
            return ALIASES[key]
    names = ", ".join(f"'{n}'" for n in ACQUISITIONS)
    aliases = ", ".join(f"'{a}'" for a in ALIASES)
    raise PlannerError(f"planner {planner!r}: acquisition must be one of {names} (also accepted: {aliases}), got {name!r}")
