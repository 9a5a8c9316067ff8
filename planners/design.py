"""Shared plumbing of ``used`` and ``boed``: experimental design for a measured-descriptor model.

Seed 000 (Tamura et al., STAM Methods 1, 152 (2021)): the operator sets
controllable descriptors x (composition, process conditions); the property y
is best predicted from a descriptor z (XRD pattern, DSC curve) that exists
only once a sample is made and measured. The goal is not a good y but an
accurate z -> y model (``planners.property_model``) from few samples. Both
planners therefore choose among candidate x's (the pool, or ``n_candidates``
uniform samples of a continuous space) and differ only in the score:

* ``used``: how uncertain y is at x before the sample exists;
* ``boed``: how much the z -> y model's mean squared error over the unused
  candidates is expected to drop once x is made and measured.

Data: a completed trial contributes (x, z, y) when it has a finite value for
the property objective and the measured descriptor array
(``Trial.measured[descriptor]``; option ``descriptor``, default the only key
the trials carry). A completed trial without the descriptor cannot train the
model; it is reported in the proposal note and, like failed, pending and
rejected trials, never proposed again. With fewer than ``n_initial``
(default 3) such samples, proposals are uniform random unused candidates
(seed 000 starts from 10 random samples: give the agent an initial design).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from labpilot.errors import PlannerError
from labpilot.planners.base import COMPLETED, Planner, Proposal, Trial
from labpilot.planners.encoding import Encoder, call_seed, check_k, split_history, taken_mask, validate_space
from labpilot.planners.pool import candidate_rows
from labpilot.planners.property_model import KINDS
from labpilot.planners.space import Objective, Space

BASE_OPTIONS = {"descriptor", "model", "n_components", "n_candidates", "n_initial", "shortlist"}


@dataclass
class MeasuredData:
    """Samples usable by the z -> y model, plus every row that must not be proposed again."""

    x: np.ndarray  # (n, dim) parameter rows
    z: np.ndarray  # (n, p) measured descriptors
    y: np.ndarray  # (n,) property values
    taken: np.ndarray
    pending: np.ndarray
    notes: list[str] = field(default_factory=list)


def descriptor_key(history: Sequence[Trial], requested: str | None) -> str | None:
    """The ``Trial.measured`` key to model: ``requested``, else the only key present (None if none yet)."""
    keys = sorted({k for t in history if t.status == COMPLETED for k in t.measured})
    if requested is not None:
        return requested
    if len(keys) > 1:
        raise PlannerError(f"trials carry several measured descriptors {keys}; choose one with option descriptor=...")
    return keys[0] if keys else None


def measured_history(space: Space, objective: Objective, history: Sequence[Trial], key: str | None) -> MeasuredData:
    """Collect (x, z, y) of completed trials with a finite property value and descriptor ``key``."""
    data = split_history(space, [objective], history)
    xs, zs, ys, notes = [], [], [], list(data.notes)
    length = None
    for i, t in enumerate(history):
        if t.status != COMPLETED:
            continue
        v = t.values.get(objective.name)
        if v is None or not np.isfinite(float(v)):
            continue
        if key is None or key not in t.measured:
            notes.append(f"trial {i} has no measured {key or 'descriptor'}: not used by the model")
            continue
        z = np.asarray(t.measured[key], dtype=float).ravel()
        if length is None:
            length = z.size
        if z.size != length:
            raise PlannerError(
                f"trial {i}: measured {key!r} has {z.size} values but earlier trials have {length}; "
                "resample the descriptors onto one grid"
            )
        if not np.isfinite(z).all():
            raise PlannerError(f"trial {i}: measured {key!r} contains NaN or infinite values")
        xs.append(space.to_row(t.params))
        zs.append(z)
        ys.append(float(v))
    x = np.array(xs, dtype=float).reshape(-1, space.dim)
    z = np.array(zs, dtype=float) if zs else np.zeros((0, 0))
    return MeasuredData(x, z, np.array(ys, dtype=float), data.taken, data.pending, notes)


class DesignPlanner(Planner):
    """Base of ``used``/``boed``: candidates, history, random start, greedy batch; subclasses score."""

    needs_measured = True
    #: Options a subclass adds to ``BASE_OPTIONS``.
    extra_options: frozenset[str] = frozenset()

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0, **options: Any) -> None:
        super().__init__(space, objectives, seed, **options)
        known = BASE_OPTIONS | self.extra_options
        unknown = sorted(set(options) - known)
        if unknown:
            raise PlannerError(f"planner {self.name!r} does not know options {unknown}; known: {sorted(known)}")
        if len(self.objectives) != 1:
            raise PlannerError(
                f"planner {self.name!r} models one property, got objectives {[o.name for o in self.objectives]}"
            )
        validate_space(space)
        self.objective = self.objectives[0]
        self.descriptor = options.get("descriptor")
        self.model_kind = options.get("model", "gp")
        if self.model_kind not in KINDS:
            raise PlannerError(f"{self.name}: model must be one of {list(KINDS)}, got {self.model_kind!r}")
        self.n_components = options.get("n_components", 5)
        if isinstance(self.n_components, bool) or not isinstance(self.n_components, int) or self.n_components < 1:
            raise PlannerError(f"{self.name}: n_components must be a positive integer, got {self.n_components!r}")
        self.n_candidates = int(options.get("n_candidates", 20_000))
        self.n_initial = max(3, int(options.get("n_initial", 3)))
        self.shortlist = int(options.get("shortlist", 256))
        self.encoder = Encoder(space)
        self._candidates: np.ndarray | None = None

    @property
    def candidates(self) -> np.ndarray:
        """The rows this planner ranks (the pool, or seeded uniform samples)."""
        if self._candidates is None:
            self._candidates = candidate_rows(self.space, self.n_candidates, call_seed(self.seed, 0, salt=43))
        return self._candidates

    def features(self, rows: np.ndarray) -> torch.Tensor:
        """GP inputs: parameters scaled to the unit cube (categoricals one-hot)."""
        return self.encoder.tensor(rows)

    def propose(self, history: Sequence[Trial], k: int = 1) -> list[Proposal]:
        k = check_k(k)
        key = descriptor_key(history, self.descriptor)
        data = measured_history(self.space, self.objective, history, key)
        cand = self.candidates
        avail = np.nonzero(~taken_mask(self.space, cand, data.taken))[0]
        if k > avail.size:
            where = "pool rows" if self.space.pool is not None else "sampled candidates"
            raise PlannerError(f"asked for {k} points but only {avail.size} of {len(cand)} {where} are unused")
        seed = call_seed(self.seed, len(history))
        note_tail = f" ({'; '.join(data.notes)})" if data.notes else ""
        if len(data.y) < self.n_initial:
            pick = np.random.default_rng(seed).choice(avail, k, replace=False)
            why = f"{self.name}: random start ({len(data.y)} of {self.n_initial} samples with {key or 'a descriptor'})"
            return [Proposal(self.space.to_point(cand[i]), None, why + note_tail) for i in pick]
        picks = self.select(data, key, cand[avail], k, seed)
        return [Proposal(self.space.to_point(cand[avail[i]]), s, self.describe(key) + note_tail) for i, s in picks]

    @abstractmethod
    def select(self, data: MeasuredData, key: str, rows: np.ndarray, k: int, seed: int) -> list[tuple[int, float]]:
        """Pick ``k`` of the unused candidate ``rows``: ``(row index, score)`` pairs."""

    @abstractmethod
    def describe(self, key: str) -> str:
        """A one-line note saying why a proposal was made."""
