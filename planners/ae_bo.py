"""``ae-bo``: Bayesian optimization in an autoencoder's latent space (seed 004).

What it does, step by step:

1. **Candidates.** The space's pool, or (continuous spaces, e.g. a composition
   simplex) ``n_candidates`` uniform constraint-satisfying samples drawn once
   from the planner's seed.
2. **Descriptors.** Parameters that name elements (``Fe``, ``ni_load`` ->
   Ni, or the ``elements`` option mapping names to symbols) form a composition;
   it becomes element-property descriptors (``planners.descriptors``: mean,
   spread, min, max of atomic number, mass, electronegativity, radii, valence
   electrons, melting point, ionization energy, density). Other parameters are
   appended as their unit-scaled values (categoricals one-hot). With no element
   parameter at all the descriptors are just the scaled parameters.
3. **What the GP sees** (``representation``), decided once per planner:

   * ``latent_dim = "auto"`` (the default) and at most 8 free parameters
     (numeric ones less one per simplex constraint, plus categorical
     one-hots; a 6-element simplex has 5): ``"parameters"``: ``ae-bo`` *is*
     ``bo`` (a ``bo`` planner with the same seed proposes, with ``bo``'s own
     defaults, and the acquisition and ``beta`` only where the campaign sets
     them, so the two cannot differ; its notes, warm-fit state and
     failed-trial handling are ``bo``'s), no descriptors, no autoencoder.
     (Until 2026-12-02 it kept ae-bo's log-EI on the values as measured, and
     lost to ``bo`` on the OER plate: EF 10.4 against 13.0, ``oer_backtest``.)
     Why: a latent space that could help must be
     smaller than the parameters, and an f-dimensional simplex cannot be
     mapped into fewer than f coordinates without folding distinct candidates
     together; on the OER plate a 3-d latent with 1.9 % reconstruction error
     put thousands of pairs of catalysts with different overpotentials within
     1 % of each other (``benchmarks/ae_bo_latent.py``), and ``ae-bo`` found
     a third of what ``bo`` found.
   * ``"auto"`` and more free parameters: an autoencoder
     (``planners.autoencoder``) is trained once, seeded, on the descriptors
     of *all* candidates (unlabelled data is free; the measured rows are far
     too few), at latent size 8 first; if it reconstructs them within
     ``max_reconstruction_error`` (default 0.02, mean squared error in
     standardized units, i.e. 2 % of their variance lost), the smallest of 3,
     5, 8 that does is used: ``"latent"``. If not even 8 does, the
     descriptors do not lie near a low-dimensional surface, compression would
     discard variation the property may depend on, and the GP works on the
     standardized descriptors themselves: ``"descriptors"`` (an ARD GP with
     BoTorch's dimension-scaled length-scale prior copes with tens of inputs).
     On a simulated 18-element world (``benchmarks/worlds/many_elements.py``)
     an 8-d latent lost 5 % of the descriptors' variance and with it most of
     the property: a GP on 50 random rows predicted the rest with R^2 0.45
     from the latent, 0.37 from the raw compositions, 0.92 from the
     descriptors (``benchmarks/ae_bo_many_elements.py``, diagnosis).
   * ``latent_dim`` an integer: always that latent size (no fallback).

   The chosen coordinates are scaled to the unit cube of the candidates.
4. **BO in those coordinates.** A GP (``planners.gp.fit_gp``: ARD Matern-5/2,
   standardized outcomes) maps the coordinates of the completed trials to
   the objective; every unused candidate is scored by log expected improvement
   (``acquisition="logei"``, over the best posterior mean at a measured point,
   which is robust to noise) or UCB (``acquisition="ucb"``, ``beta``); the
   names are ``planners.acquisitions``' one vocabulary, shared with ``bo``.
5. **Proposals are real candidates.** Because the whole candidate set is
   scored in those coordinates, the chosen point *is* a real unmeasured
   candidate (the nearest one, at distance zero): no decoding of an abstract
   latent optimum, which may not correspond to any makeable composition.
   Batches and pending points use the kriging believer
   (``planners.pool_batch.greedy_batch``), so a batch spreads out.

History: failed trials are excluded from the GP (their value is unknown) and
never proposed again; rejected and pending points are never proposed; pending
points are believed at their posterior mean. Fewer than ``n_initial`` (default
2) completed trials: uniform random unused candidates.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from labpilot.errors import PlannerError
from labpilot.planners.acquisitions import canonical
from labpilot.planners.analytic import log_ei, ucb
from labpilot.planners.autoencoder import LATENT_RANGE, TrainedAutoencoder, fit_autoencoder
from labpilot.planners.base import Planner, Proposal, Trial, register
from labpilot.planners.options import AeBoOptions
from labpilot.planners.descriptors import composition_descriptors
from labpilot.planners.elements import element_mapping
from labpilot.planners.encoding import Encoder, call_seed, check_k, maximize_form, taken_mask, validate_space
from labpilot.planners.gp import fit_gp, posterior_mean_std
from labpilot.planners.history_split import HistorySplitter
from labpilot.planners.pool import candidate_rows
from labpilot.planners.pool_batch import greedy_batch, shortlist
from labpilot.planners.space import CategoricalParam, Objective, Space

_OPTIONS = {"latent_dim", "elements", "acquisition", "beta", "n_candidates", "ae_steps", "n_initial", "shortlist",
            "max_reconstruction_error"}
#: Latent sizes ``latent_dim = "auto"`` may pick, smallest first (the largest is trained first).
AUTO_SIZES = (3, 5, 8)
#: The three things the GP can work on (module docstring, step 3).
REPRESENTATIONS = ("parameters", "latent", "descriptors")


@register
class AEBOPlanner(Planner):
    """GP-BO over autoencoder latent coordinates of element descriptors; proposes real candidates."""

    Options = AeBoOptions

    name = "ae-bo"

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0, **options: Any) -> None:
        super().__init__(space, objectives, seed, **options)
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise PlannerError(f"planner 'ae-bo' does not know options {unknown}; known: {sorted(_OPTIONS)}")
        if len(self.objectives) != 1:
            raise PlannerError(f"planner 'ae-bo' optimizes one objective, got {len(self.objectives)}")
        validate_space(space)
        self._history = HistorySplitter(space, objectives)
        self.latent_dim = options.get("latent_dim", "auto")
        lo, hi = LATENT_RANGE
        if self.latent_dim != "auto" and (
                isinstance(self.latent_dim, bool) or not isinstance(self.latent_dim, int) or not lo <= self.latent_dim <= hi):
            raise PlannerError(f"ae-bo: latent_dim must be 'auto' or an integer in [{lo}, {hi}], got {self.latent_dim!r}")
        self.max_error = float(options.get("max_reconstruction_error", 0.02))
        n_numeric = sum(not isinstance(p, CategoricalParam) for p in space.params)
        #: Free parameters: numeric ones less one per simplex constraint, plus categorical one-hots.
        self.free_params = n_numeric - len(space.simplex) + sum(
            len(p.choices) - 1 for p in space.params if isinstance(p, CategoricalParam))
        #: What the GP works on (module docstring, step 3); "auto" above ``hi`` free parameters is decided
        #: when the autoencoder is trained (first proposal, or ``representation_choice()``).
        self.representation: str | None = None
        if self.latent_dim == "auto" and self.free_params <= hi:
            self.representation = "parameters"
        elif self.latent_dim != "auto":
            self.representation = "latent"
        #: Reconstruction error of each latent size trained (standardized units), for notes and benchmarks.
        self.reconstruction_errors: dict[int, float] = {}
        self.acquisition = canonical("ae-bo", options.get("acquisition", "logei"), allowed=("logei", "ucb"))
        self.beta = float(options.get("beta", 4.0))
        self.n_candidates = int(options.get("n_candidates", 20_000))
        self.ae_steps = int(options.get("ae_steps", 1500))
        self.n_initial = max(2, int(options.get("n_initial", 2)))
        self.shortlist = int(options.get("shortlist", 256))
        elements = options.get("elements")
        if elements is not None and not isinstance(elements, Mapping):
            raise PlannerError(f"ae-bo: elements must map parameter names to element symbols, got {elements!r}")
        try:
            self.elements = element_mapping(space.names, elements)
        except KeyError as e:
            raise PlannerError(f"ae-bo: {e.args[0]}") from None
        for name in self.elements:
            if isinstance(space.param(name), CategoricalParam):
                raise PlannerError(f"ae-bo: element parameter {name!r} must be numeric (a fraction), not categorical")
        self._encoder = Encoder(space)
        #: The ``bo`` planner that proposes in ``"parameters"`` mode (step 3), else None.
        self._bo: Planner | None = None
        if self.representation == "parameters":
            from labpilot.planners.bo import BoPlanner

            # bo with bo's own defaults (which depend on the space: bo_select chose them on pools), and with
            # the acquisition and beta only where the campaign set them: ae-bo must not lose to bo here
            given = {k: options[k] for k in ("acquisition", "beta") if k in options}
            self._bo = BoPlanner(space, objectives, seed, **given)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        self._ae: TrainedAutoencoder | None = None
        self._desc_mean = self._desc_scale = self._lo = self._span = np.zeros(0)

    @property
    def direct(self) -> bool:
        """True when the GP works on the unit-scaled parameters (no descriptors, no autoencoder)."""
        return self.representation == "parameters"

    # -- descriptors and latent space ------------------------------------------
    def descriptors(self, rows: np.ndarray) -> np.ndarray:
        """Descriptor vectors of parameter rows (element descriptors + other scaled parameters)."""
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
        names = self.space.names
        el_idx = [names.index(n) for n in self.elements]
        parts = []
        if el_idx:
            try:
                parts.append(composition_descriptors(rows[:, el_idx], list(self.elements.values())))
            except ValueError as e:
                raise PlannerError(f"ae-bo: {e}") from None
        feats = self._encoder.to_features(rows)
        other_cols: list[int] = []
        for i, p in enumerate(self.space.params):
            if i in el_idx:
                continue
            if isinstance(p, CategoricalParam):
                other_cols.extend(self._encoder.cat_cols[i])
            else:
                other_cols.append(self._encoder.numeric_col[self._encoder.numeric_idx.index(i)])
        if other_cols:
            parts.append(feats[:, other_cols])
        return np.hstack(parts)

    def _coordinates(self, rows: np.ndarray) -> np.ndarray:
        """Coordinates of parameter rows in the chosen representation, before unit scaling."""
        if self.representation == "parameters":
            return self._encoder.to_features(rows)
        desc = self.descriptors(rows)
        if self.representation == "latent":
            assert self._ae is not None
            return self._ae.encode(desc)
        return (desc - self._desc_mean) / self._desc_scale

    def _choose(self, desc: np.ndarray) -> None:
        """Train the autoencoder(s) on the candidates' descriptors and settle the representation (step 3)."""
        def train(size: int) -> TrainedAutoencoder:
            return fit_autoencoder(desc, size, seed=self.seed, steps=self.ae_steps)

        if self.latent_dim != "auto":
            self._ae = train(int(self.latent_dim))
            self.reconstruction_errors[int(self.latent_dim)] = self._ae.reconstruction_error(desc)
            return
        largest = train(AUTO_SIZES[-1])
        self.reconstruction_errors[AUTO_SIZES[-1]] = largest.reconstruction_error(desc)
        if self.reconstruction_errors[AUTO_SIZES[-1]] > self.max_error:
            self.representation = "descriptors"
            return
        self.representation = "latent"
        for size in AUTO_SIZES[:-1]:
            ae = train(size)
            self.reconstruction_errors[size] = ae.reconstruction_error(desc)
            if self.reconstruction_errors[size] <= self.max_error:
                self._ae = ae
                break
        else:
            self._ae = largest

    def _latent_space(self) -> tuple[np.ndarray, np.ndarray]:
        """Candidates and their unit-cube coordinates in the chosen representation (built once)."""
        if self._cache is None:
            cand = candidate_rows(self.space, self.n_candidates, call_seed(self.seed, 0, salt=41))
            if self.representation != "parameters":
                desc = self.descriptors(cand)
                self._desc_mean = desc.mean(axis=0)
                scale = desc.std(axis=0)
                self._desc_scale = np.where(scale > 1e-12, scale, 1.0)
                self._choose(desc)
            z = self._coordinates(cand)
            self.latent_dim = z.shape[1]
            lo, span = z.min(axis=0), np.ptp(z, axis=0)
            self._lo, self._span = lo, np.where(span > 1e-12, span, 1.0)
            self._cache = (cand, (z - self._lo) / self._span)
        return self._cache

    def representation_choice(self) -> str:
        """Settle (training the autoencoder if step 3 needs it) and return what the GP works on."""
        self._latent_space()
        assert self.representation is not None
        return self.representation

    def latent(self, rows: np.ndarray) -> np.ndarray:
        """Unit-cube coordinates of any parameter rows (measured points off the pool too)."""
        self._latent_space()
        return (self._coordinates(rows) - self._lo) / self._span

    # -- proposing ---------------------------------------------------------------
    def propose(self, history: Sequence[Trial], k: int = 1) -> list[Proposal]:
        k = check_k(k)
        if self._bo is not None:
            why = f"ae-bo: {self.free_params} free parameters, not compressed: plain bo; "
            return [replace(p, note=why + p.note) for p in self._bo.propose(history, k)]
        data = self._history.split(history)
        cand, cand_latent = self._latent_space()
        avail = np.nonzero(~taken_mask(self.space, cand, data.taken))[0]
        if k > avail.size:
            where = "pool rows" if self.space.pool is not None else "sampled candidates"
            raise PlannerError(f"asked for {k} points but only {avail.size} of {len(cand)} {where} are unused")
        rng = np.random.default_rng(call_seed(self.seed, len(history)))
        if len(data.y) < self.n_initial:
            pick = rng.choice(avail, k, replace=False)
            return [Proposal(self.space.to_point(cand[i]), None, "ae-bo: random start") for i in pick]
        y = maximize_form(data.y, self.objectives)[:, 0]
        unit = torch.stack([torch.zeros(self.latent_dim), torch.ones(self.latent_dim)]).double()
        model = fit_gp(self.latent(data.x), y, bounds=unit, seed=call_seed(self.seed, len(history), 1))
        X = torch.as_tensor(cand_latent[avail], dtype=torch.float64)
        mean, std = posterior_mean_std(model, X)
        train_mean, _ = posterior_mean_std(model, torch.as_tensor(self.latent(data.x)))
        best = float(train_mean.max())
        if self.acquisition == "logei":
            def score(m: torch.Tensor, s: torch.Tensor, _b: torch.Tensor) -> torch.Tensor:
                return log_ei(m[:, 0], s[:, 0], best)
        else:
            def score(m: torch.Tensor, s: torch.Tensor, _b: torch.Tensor) -> torch.Tensor:
                return ucb(m[:, 0], s[:, 0], self.beta)
        first = score(mean, std, mean[:0])
        short = shortlist(first, k, self.shortlist)
        pending = torch.as_tensor(self.latent(data.pending), dtype=torch.float64) if len(data.pending) else X[:0]
        picks = greedy_batch([model], X[short], pending, k, score)
        label = "log EI" if self.acquisition == "logei" else "UCB"
        where = self._where()
        out = []
        for j, s in picks:
            row = cand[avail[int(short[j])]]
            out.append(Proposal(self.space.to_point(row), s, f"ae-bo: {label} {where}"))
        return out

    def _where(self) -> str:
        """The note's account of the representation (step 3)."""
        if self.representation == "parameters":
            return f"on the {self.latent_dim} unit-scaled parameters ({self.free_params} free: not compressed)"
        if self.representation == "descriptors":
            err = self.reconstruction_errors[AUTO_SIZES[-1]]
            return (f"on the {self.latent_dim} standardized descriptors (an {AUTO_SIZES[-1]}-d latent lost "
                    f"{err:.1%} of their variance > {self.max_error:.0%}: not compressed)")
        return f"in a {self.latent_dim}-d latent space"

    def state(self) -> Any:
        """``bo``'s warm-fit state in ``"parameters"`` mode (journaled by the agent), else None."""
        return self._bo.state() if self._bo is not None else None

    def load_state(self, state: Any) -> None:
        if self._bo is not None:
            self._bo.load_state(state)
