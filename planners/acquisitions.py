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
* ``ts``: Thompson sampling, ``bo`` on a pool only (``planners.pool_thompson``):
  each batch slot takes the best unused row of its own posterior function
  draw. A planner that does not offer a name passes ``allowed`` to
  ``canonical``, which then refuses it with the names it does offer.

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
    "ts": "Thompson sampling: each batch slot the argmax of its own posterior draw (bo, pools only)",
}

#: Older or alternative spellings -> the one name.
ALIASES: dict[str, str] = {"qlognei": "logei", "qnei": "logei", "lognei": "logei", "qucb": "ucb"}


def canonical(planner: str, name: object, allowed: tuple[str, ...] | None = None) -> str:
    """The one name of acquisition ``name`` (an alias is translated); a ``PlannerError`` otherwise.

    ``allowed``: the names this planner offers (default: all of ``ACQUISITIONS``).
    """
    offered = [n for n in ACQUISITIONS if allowed is None or n in allowed]
    if isinstance(name, str):
        key = ALIASES.get(name.strip().lower(), name.strip().lower())
        if key in offered:
            return key
    names = ", ".join(f"'{n}'" for n in offered)
    aliases = ", ".join(f"'{a}'" for a in ALIASES)
    raise PlannerError(f"planner {planner!r}: acquisition must be one of {names} (also accepted: {aliases}), got {name!r}")
