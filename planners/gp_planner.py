"""The common machinery of the GP planners (``bo``, ``mobo``, ``range``, ``uncertainty``).

A subclass says how to score (``score_fn`` for pools, ``acquisition`` for
continuous spaces); this base class does everything else the same way:

* **Options** are checked: an unknown option or a bad value is a
  ``PlannerError`` naming it.
* **Training data**: completed trials (objectives in maximize form). Failed
  trials, with ``failed = "worst"`` (the default), are added with the worst
  value observed so far for each objective, so the GP learns to stay away;
  with ``failed = "exclude"`` they are left out of the model. Either way they
  are never proposed again.
* **Fewer than ``min_observations`` usable results** (default 2): no model can
  be fitted yet, so the planner proposes uniform random points and says so in
  ``Proposal.note``. (The agent normally runs ``initial_design`` first.)
* **Pool mode**: score every unused row from one cached posterior
  (chunked, ``gp.posterior_mean_std``), keep the best ``pool_shortlist``
  rows, re-score those exactly and pick the batch greedily under the kriging
  believer (``pool_batch``), with pending points believed first.
* **Continuous mode**: ``optimize_acqf`` on the unit-cube features with the
  simplexes as equality constraints and pending + rejected points as
  ``X_pending``; categoricals are enumerated (``optimize_acqf_mixed``, up to
  ``max_categorical_combos`` settings, sampled beyond), integers rounded.
  A proposal that rounds onto a used point or repeats one in the batch is
  replaced by the best of ``fill_samples`` random new points, scored like a
  pool. Planners with ``continuous_by_candidates`` (``range``,
  ``uncertainty``) always work this way in continuous spaces.
* **Warm-started fits** (``gp_warm``): with ``warm_start`` (default) each
  fit starts from the previous fit's hyperparameters and runs a short
  optimisation (``warm_maxiter`` steps); a full fit with ``fit_restarts``
  extra starts runs first, every ``refit_every`` fits, and whenever the warm
  fit's marginal likelihood falls ``refit_tolerance`` nats per observation
  behind the last full fit's. ``state()`` is that JSON-ready fit state;
  ``warm_start = false`` fits every time from BoTorch's default start alone.
* **Seeds**: every random choice (GP fit restarts, MC samples, start points,
  candidate sets) derives from the planner seed and the history length, so
  the same seed and history give the same proposals, also after a restart.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models import SingleTaskGP
from botorch.optim import optimize_acqf, optimize_acqf_mixed
from botorch.optim.initializers import initialize_q_batch
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.sampling import manual_seed

from labpilot.errors import PlannerError
from labpilot.planners.base import Planner, Proposal, Trial
from labpilot.planners.encoding import Encoder, HistoryData, call_seed, check_k, dedupe, maximize_form, points, pool_available
from labpilot.planners.history_split import HistorySplitter
from labpilot.planners.gp import DTYPE, fit_gp, posterior_mean_std
from labpilot.planners.gp_warm import FitPolicy, fit_with_state, usable
from labpilot.planners.pool_batch import ScoreFn, greedy_batch, shortlist
from labpilot.planners.pool_predict import predictor, supports
from labpilot.planners.pool_select import select

#: Pools with rows x observations^2 above this are screened in float32 (``pool_select``).
SCREEN_ABOVE = 2e9
from labpilot.planners.random_planner import sample_new, sample_space
from labpilot.planners.space import Objective, Space

#: Options every GP planner accepts, with their defaults.
COMMON_OPTIONS: dict[str, Any] = {
    "failed": "worst",
    "min_observations": 2,
    "num_restarts": 4,
    "raw_samples": 128,
    "maxiter": 75,
    "mc_samples": 64,
    "max_categorical_combos": 16,
    "fill_samples": 1024,
    "pool_chunk": 4096,
    "pool_shortlist": 2000,
    "warm_start": True,
    "refit_every": 10,
    "warm_maxiter": 20,
    "fit_restarts": 0,
    "refit_tolerance": 0.05,
}


class GPPlanner(Planner):
    """Base class: subclasses set ``name``, ``extra_options`` and the two scoring hooks."""

    plans_pool_rows = True  # pool rows are scored through the encoder's features (descriptors)

    extra_options: dict[str, Any] = {}
    #: Model objectives in maximize form (times their sign) or in their own units.
    flip_signs: bool = True
    #: In continuous spaces, pick from ``fill_samples`` random feasible points
    #: with the pool machinery instead of running ``optimize_acqf``.
    continuous_by_candidates: bool = False
    #: The pool score never decreases when the mean or the std grows (lets
    #: large pools use the float32 screen of ``pool_select``).
    monotone_score: bool = False

    def __init__(self, space: Space, objectives: Sequence[Objective], seed: int = 0, **options: Any) -> None:
        super().__init__(space, objectives, seed, **options)
        known = {**COMMON_OPTIONS, **self.extra_options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise PlannerError(f"planner {self.name!r}: unknown option(s) {unknown}; known: {sorted(known)}")
        self.opts: dict[str, Any] = {**known, **options}
        self._history = HistorySplitter(space, objectives)  # each trial encoded once, not once per proposal
        if self.opts["failed"] not in ("worst", "exclude"):
            raise PlannerError(f"planner {self.name!r}: failed must be 'worst' or 'exclude', got {self.opts['failed']!r}")
        for key in ("min_observations", "num_restarts", "raw_samples", "maxiter", "mc_samples", "max_categorical_combos",
                    "fill_samples", "pool_chunk", "pool_shortlist", "refit_every", "warm_maxiter"):
            v = self.opts[key]
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise PlannerError(f"planner {self.name!r}: {key} must be a positive integer, got {v!r}")
        v = self.opts["fit_restarts"]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise PlannerError(f"planner {self.name!r}: fit_restarts must be an integer >= 0, got {v!r}")
        v = self.opts["refit_tolerance"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise PlannerError(f"planner {self.name!r}: refit_tolerance must be a number >= 0, got {v!r}")
        if not isinstance(self.opts["warm_start"], bool):
            raise PlannerError(f"planner {self.name!r}: warm_start must be true or false, got {self.opts['warm_start']!r}")
        self.opts["min_observations"] = max(2, int(self.opts["min_observations"]))
        self.fit_policy = FitPolicy(int(self.opts["refit_every"]), int(self.opts["warm_maxiter"]),
                                    int(self.opts["fit_restarts"]), float(self.opts["refit_tolerance"]))
        self._fit_states: list[dict | None] = []
        self._pool_note = ""
        #: What the last fit did per objective ("warm", "full (reason)", "cold").
        self.last_fit: list[str] = []
        self.encoder = Encoder(space)
        self.check_options()

    # -- hooks ---------------------------------------------------------------
    def check_options(self) -> None:
        """Validate subclass options (raise ``PlannerError``)."""

    def after_fit(self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor) -> list[str]:
        """Look at the fitted models before proposing (may raise); returns notes for the proposals."""
        return []

    def score_fn(self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor) -> ScoreFn:
        """Pool score from posterior mean/std (and believed means of pending/chosen points)."""
        raise NotImplementedError

    def acquisition(
        self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor, pending: torch.Tensor | None
    ) -> AcquisitionFunction:
        """The BoTorch acquisition function for continuous mode."""
        raise NotImplementedError

    # -- data ------------------------------------------------------------------
    def training_data(self, data: HistoryData) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Rows and maximize-form values to fit, after the ``failed`` policy."""
        x = data.x
        y = maximize_form(data.y, self.objectives) if self.flip_signs else data.y.copy()
        notes = list(data.notes)
        if len(data.failed) and self.opts["failed"] == "worst":
            if len(y):
                worst = self.worst_values(y)
                x = np.vstack([x, data.failed])
                y = np.vstack([y, np.repeat(worst, len(data.failed), axis=0)])
                notes.append(f"{len(data.failed)} failed trial(s) modeled as the worst observed value")
            else:
                notes.append("failed trials not modeled yet: no completed result to call the worst")
        return x, y, notes

    def sampler(self) -> SobolQMCNormalSampler:
        """The quasi-Monte-Carlo sampler for batch acquisition functions (``mc_samples`` draws)."""
        return SobolQMCNormalSampler(torch.Size([int(self.opts["mc_samples"])]), seed=self._call_seed)

    def worst_values(self, y: np.ndarray) -> np.ndarray:
        """The (1, m) value a failed trial is modeled with: the worst observed per objective."""
        return y.min(axis=0, keepdims=True)

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> list[SingleTaskGP]:
        """One GP per objective column on the encoded rows (warm-started, see the module docstring)."""
        tx = self.encoder.tensor(x)
        ys = [torch.as_tensor(y[:, j], dtype=DTYPE) for j in range(y.shape[1])]
        if not self.opts["warm_start"]:
            self.last_fit = ["cold"] * len(ys)
            return [fit_gp(tx, yj, bounds=self.encoder.bounds(), seed=seed, priors=self.fit_policy.priors) for yj in ys]
        states = self._fit_states if len(self._fit_states) == len(ys) else [None] * len(ys)
        models, new_states, kinds = [], [], []
        for yj, st in zip(ys, states):
            model, new, kind = fit_with_state(tx, yj, st, self.fit_policy, bounds=self.encoder.bounds(), seed=seed)
            models.append(model)
            new_states.append(new)
            kinds.append(kind)
        self._fit_states, self.last_fit = new_states, kinds
        return models

    def state(self) -> dict[str, Any] | None:
        """The last fit's hyperparameters and refit bookkeeping per objective (JSON-ready), or None."""
        if not self.opts["warm_start"] or not self._fit_states:
            return None
        return {"planner": self.name, "gp": [dict(s) for s in self._fit_states if s is not None]}

    def load_state(self, state: Any) -> None:
        """Warm-start the next fit from a journaled ``state()``; a foreign or malformed value is ignored."""
        if isinstance(state, dict) and state.get("planner") == self.name and isinstance(state.get("gp"), list):
            self._fit_states = [s if usable(s) else None for s in state["gp"]]
        else:
            self._fit_states = []

    # -- propose ----------------------------------------------------------------
    def propose(self, history: Sequence[Trial], k: int = 1) -> list[Proposal]:
        k = check_k(k)
        data = self._history.split(history)
        seed = call_seed(self.seed, len(history))
        self._call_seed = seed % (2**31)
        rng = np.random.default_rng(seed)
        avail = None
        if self.space.pool is not None:
            avail = pool_available(self.space, data.taken)
            if k > avail.size:
                raise PlannerError(
                    f"asked for {k} points but only {avail.size} of {len(self.space.pool)} pool rows are unused"
                )
        x, y, notes = self.training_data(data)
        if len(data.x) < self.opts["min_observations"]:
            note = f"{self.name}: only {len(data.x)} completed result(s), fewer than {self.opts['min_observations']}: random"
            return self._random(data, k, rng, avail, note)
        models = self.fit(x, y, seed)
        notes.append("GP fit " + ", ".join(self.last_fit))
        train_x = self.encoder.tensor(x)
        train_y = torch.as_tensor(y, dtype=DTYPE)
        notes += self.after_fit(models, train_x, train_y)
        note = "; ".join([self.name] + notes)
        if avail is not None:
            self._pool_note = ""
            exclude = None
            if self.encoder.features is not None:  # a descriptor pool: score every row in place, used ones masked
                pool = np.asarray(self.space.pool, dtype=float)
                exclude = torch.ones(len(pool), dtype=torch.bool)
                exclude[torch.from_numpy(avail)] = False
            else:
                pool = np.asarray(self.space.pool, dtype=float)[avail]
            picks = self._pool_pick(models, train_x, train_y, self.encoder.pool_tensor(pool), data.pending, k, exclude)
            if self._pool_note:
                note += "; " + self._pool_note
            return self._predicted(models, [
                Proposal(p, s, note) for p, s in zip(points(self.space, pool[[i for i, _ in picks]]), [s for _, s in picks])])
        return self._predicted(models, self._continuous(models, train_x, train_y, data, k, seed, rng, note))

    def _predicted(self, models: list[SingleTaskGP], proposals: list[Proposal]) -> list[Proposal]:
        """Attach each objective's posterior mean and std at each proposal, in the objective's units.

        What the operator judges a proposal by; the models are the ones the
        proposal was chosen with. (Models that do not predict the objectives
        themselves, as in ``uncertainty``'s error model, are left out.)
        """
        if not proposals or len(models) != len(self.objectives):
            return proposals
        rows = np.array([self.space.to_row(p.params) for p in proposals])
        feats = self.encoder.tensor(rows)
        per_obj = []
        for model, obj in zip(models, self.objectives):
            mean, std = posterior_mean_std(model, feats, fast=False)
            sign = obj.sign if self.flip_signs else 1.0
            per_obj.append((obj.name, (mean[:, 0] * sign).tolist(), std[:, 0].tolist()))
        for i, p in enumerate(proposals):
            p.predicted = {name: (float(m[i]), float(s[i])) for name, m, s in per_obj}
        return proposals

    def _random(self, data: HistoryData, k: int, rng: np.random.Generator, avail: np.ndarray | None, note: str) -> list[Proposal]:
        if avail is not None:
            rows = np.asarray(self.space.pool, dtype=float)[rng.choice(avail, k, replace=False)]
        else:
            rows = sample_new(self.space, k, data.taken, rng)
        return [Proposal(p, None, note) for p in points(self.space, rows)]

    def _pool_pick(
        self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor,
        feats: torch.Tensor, believed_rows: np.ndarray, k: int, exclude: torch.Tensor | None = None,
    ) -> list[tuple[int, float]]:
        """Score all of ``feats`` and pick ``k`` greedily; returns (index into feats, score).

        Large pools with a score that grows with the mean and the std (``bo``)
        go through ``pool_select``: a float32 screen, float64 on a certified
        shortlist (the note says how it was checked). ``exclude`` (bool per
        row) marks rows never to pick: a descriptor pool is scored whole, in
        place, rather than copied without its used rows.
        """
        fn = self.score_fn(models, train_x, train_y)
        believed = self.encoder.tensor(believed_rows) if len(believed_rows) else torch.zeros(0, feats.shape[1], dtype=DTYPE)
        n = train_x.shape[0]
        if (self.monotone_score and len(models) == 1 and supports(models[0])
                and feats.shape[0] * n * n > SCREEN_ABOVE and feats.shape[0] > self.opts["pool_shortlist"]):
            res = select(predictor(models[0]), models[0], feats, believed, k, fn, self.opts["pool_shortlist"],
                         np.random.default_rng(self._call_seed), exclude=exclude)
            self._pool_note = res.note()
            return res.picks
        stats = [posterior_mean_std(m, feats, chunk=self.opts["pool_chunk"]) for m in models]
        mean = torch.cat([s[0] for s in stats], dim=-1)
        std = torch.cat([s[1] for s in stats], dim=-1)
        first = fn(mean, std, mean[:0])
        if exclude is not None:
            first = first.masked_fill(exclude, -torch.inf)
        short = shortlist(first, k, self.opts["pool_shortlist"])
        if exclude is not None:
            short = short[~exclude[short]]
        picks = greedy_batch(models, feats[short], believed, k, fn)
        return [(int(short[i]), s) for i, s in picks]

    def _sequential(
        self, acq: AcquisitionFunction, pending: torch.Tensor | None, k: int, rng: np.random.Generator
    ) -> torch.Tensor:
        """Sequential greedy batch: optimize one point, add it to ``X_pending``, repeat.

        Start points come from ``raw_samples`` uniform feasible points (this
        planner's exact simplex sampler, much faster than a generic polytope
        walk), of which ``num_restarts`` are kept by ``initialize_q_batch``.
        """
        enc = self.encoder
        eq = enc.equality_constraints() or None
        chosen: list[torch.Tensor] = []
        for _ in range(k):
            raw = enc.tensor(sample_space(self.space, self.opts["raw_samples"], rng)).unsqueeze(1)
            with torch.no_grad():
                vals = acq(raw)
            start, _ = initialize_q_batch(raw, vals, min(self.opts["num_restarts"], raw.shape[0]))
            x, _ = optimize_acqf(
                acq, enc.bounds(), q=1, num_restarts=start.shape[0], batch_initial_conditions=start,
                equality_constraints=eq, options={"maxiter": self.opts["maxiter"]},
            )
            chosen.append(x.detach().reshape(1, -1))
            extra = torch.cat(chosen)
            acq.set_X_pending(extra if pending is None else torch.cat([pending, extra]))
        acq.set_X_pending(pending)
        return torch.cat(chosen)

    def _continuous(
        self, models: list[SingleTaskGP], train_x: torch.Tensor, train_y: torch.Tensor,
        data: HistoryData, k: int, seed: int, rng: np.random.Generator, note: str,
    ) -> list[Proposal]:
        enc = self.encoder
        avoid = np.vstack([data.pending, data.rejected])
        pending = enc.tensor(avoid) if len(avoid) else None
        eq = enc.equality_constraints() or None
        combos = enc.categorical_combos(self.opts["max_categorical_combos"], rng)
        if self.continuous_by_candidates:
            extra = sample_new(self.space, max(k, self.opts["fill_samples"]), data.taken, rng, at_most=True)
            if len(extra) < k:
                raise PlannerError(f"asked for {k} new points but only {len(extra)} are left in the space")
            picks = self._pool_pick(models, train_x, train_y, enc.tensor(extra), avoid, k)
            rows = extra[[i for i, _ in picks]]
            return [Proposal(p, s, note) for p, (_, s) in zip(points(self.space, rows), picks)]
        with manual_seed(seed):
            acq = self.acquisition(models, train_x, train_y, pending)
            if combos:
                cand, _ = optimize_acqf_mixed(
                    acq, enc.bounds(), q=k, num_restarts=self.opts["num_restarts"],
                    raw_samples=self.opts["raw_samples"], fixed_features_list=combos, equality_constraints=eq,
                    options={"maxiter": self.opts["maxiter"]},
                )
            else:
                cand = self._sequential(acq, pending, k, rng)
        rows = enc.to_rows(cand.detach().numpy())
        rows = rows[dedupe(self.space, rows, data.taken)][:k]
        if len(rows) < k:
            extra = sample_new(
                self.space, max(k, self.opts["fill_samples"]), np.vstack([data.taken, rows]), rng, at_most=True
            )
            if len(extra) < k - len(rows):
                raise PlannerError(f"asked for {k} new points but only {len(rows) + len(extra)} are left in the space")
            believed = np.vstack([avoid, rows])
            picks = self._pool_pick(models, train_x, train_y, enc.tensor(extra), believed, k - len(rows))
            rows = np.vstack([rows, extra[[i for i, _ in picks]]])
            note += f"; {len(picks)} proposal(s) repeated a used point after rounding, replaced from random candidates"
        with torch.no_grad():
            scores = acq(enc.tensor(rows).unsqueeze(1)).reshape(-1).tolist()
        return [Proposal(p, float(s), note) for p, s in zip(points(self.space, rows), scores)]
