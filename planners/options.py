"""The typed options of each built-in planner: one pydantic model per planner (``extra="forbid"``).

A campaign's ``[planner.options]`` table is validated against the planner
class's ``Options`` model before the planner is built (``make_planner``), so
a misspelt option is an error naming ``planner.options.aquisition`` and a
value of the wrong kind is refused before the planner sees it. This module
imports no torch: ``labpilot validate`` and ``labpilot plugins`` read the
models without loading a planner. Each field's docstring documents it; the
defaults are the planners' own.

Numbers are strict: ``true`` or ``"3"`` is not an integer, ``3`` is also a
valid float.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labpilot.protocols.strict import did_you_mean, field_problems

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeNumber = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
PositiveNumber = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Flag = Annotated[bool, Field(strict=True)]
#: ``planners.acquisitions``' one vocabulary (``logei``, ``ucb``, ``ts``) and its accepted aliases.
Acquisition = Literal["logei", "ucb", "ts", "qlognei", "qnei", "lognei", "qucb"]
#: The acquisitions ``ae-bo`` offers (no Thompson sampling).
AeBoAcquisition = Literal["logei", "ucb", "qlognei", "qnei", "lognei", "qucb"]


class PlannerOptions(BaseModel):
    """Base of every planner's options: unknown names refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class RandomOptions(PlannerOptions):
    """``random`` takes no options (the campaign's seed fixes its draws)."""


class GPOptions(PlannerOptions):
    """Options every GP planner shares (``gp_planner.COMMON_OPTIONS``)."""

    failed: Literal["worst", "exclude"] = "worst"
    """Failed trials: train on them at the worst observed value, or leave them out."""
    min_observations: PositiveInt = 2
    """Usable results needed before a model is fitted (fewer: random proposals)."""
    num_restarts: PositiveInt = 4
    """Restarts of the acquisition optimizer (continuous spaces)."""
    raw_samples: PositiveInt = 128
    """Raw samples that seed the acquisition optimizer."""
    maxiter: PositiveInt = 75
    """Iterations of the acquisition optimizer."""
    mc_samples: PositiveInt = 64
    """Monte Carlo samples of the batch acquisition."""
    max_categorical_combos: PositiveInt = 16
    """Categorical settings enumerated per proposal (sampled beyond)."""
    fill_samples: PositiveInt = 1024
    """Random points scored to replace a proposal that rounds onto a used point."""
    pool_chunk: PositiveInt = 4096
    """Pool rows scored per posterior call."""
    pool_shortlist: PositiveInt = 2000
    """Pool rows re-scored exactly after the screen."""
    warm_start: Flag = True
    """Start each GP fit from the previous fit's hyperparameters."""
    refit_every: PositiveInt = 10
    """A full fit every this many fits (warm starts in between)."""
    warm_maxiter: PositiveInt = 20
    """Iterations of a warm-started fit."""
    fit_restarts: Annotated[int, Field(strict=True, ge=0)] = 0
    """Extra random starts of a full fit."""
    refit_tolerance: NonNegativeNumber = 0.05
    """Marginal-likelihood loss (nats per observation) that forces a full fit."""


class BoOptions(GPOptions):
    """``bo``: one objective, UCB (default) or log noisy expected improvement."""

    acquisition: Acquisition = "ucb"
    """``ucb`` (upper confidence bound, the default on a pool), ``logei`` (batch log noisy expected improvement, the default on a continuous space) or ``ts`` (Thompson sampling: each batch slot the best unused row of its own posterior draw; pools only, ``planners.pool_thompson``; ``bo_select`` round 7: worse than the default); ``qlognei``/``qucb`` are aliases."""
    beta: NonNegativeNumber = 1.0
    """Exploration weight of ``ucb`` (mean + sqrt(beta) * std; 2 before 2026-12)."""
    beta_draw: Literal["fixed", "exponential"] = "fixed"
    """``fixed``: every proposal uses ``beta``; ``exponential``: each proposal draws its own from an exponential distribution of mean ``beta`` (randomised GP-UCB, Berk et al. 2020), seeded by the history's length so a resumed agent draws the same."""
    output_warp: Literal["none", "rank", "power"] = "rank"
    """Monotone warp of the objective's values before the GP (``planners.output_warp``): rank (Gaussian copula, the default on a pool), power (Yeo-Johnson) or none (the default on a continuous space)."""
    gp_priors: Literal["lognormal", "gamma"] = "lognormal"
    """GP hyperparameter priors: BoTorch's dimension-scaled log-normal, or gamma (lighter-tailed, BayBE's)."""
    skill_guard: Flag = False
    """Refit a GP whose lengthscale collapsed to its bound and whose leave-one-out error is about one sd (no skill) with the lengthscales floored at the observations' median nearest-neighbour distance, keeping the fit with the better leave-one-out log-likelihood (``planners.gp_skill``); off by default (``bo_select`` round 6: not better)."""
    transfer_min_target: Annotated[int, Field(strict=True, ge=3)] = 5
    """Campaign results needed before a ``[[prior]]`` source is tried (fewer: plain ``bo``)."""
    transfer_margin: Annotated[float, Field(strict=True, ge=0, lt=1, allow_inf_nan=False)] = 0.10
    """Fraction by which a source must lower the campaign's leave-one-out error to be kept."""
    transfer_min_correlation: Annotated[float, Field(strict=True, ge=-1, le=1, allow_inf_nan=False)] = 0.5
    """Least task correlation (campaign vs source) for a source to be kept."""
    transfer_max_prior: Annotated[int, Field(strict=True, ge=3)] = 500
    """Rows used per prior source (a seeded subsample beyond)."""


class MoboOptions(GPOptions):
    """``mobo``: expected hypervolume improvement over two or more objectives."""

    ref_point: list[Annotated[float, Field(strict=True, allow_inf_nan=False)]] | None = None
    """Hypervolume reference point, one value per objective in its own units (default: inferred)."""
    mc_samples: PositiveInt = 32
    """Monte Carlo samples (NEHVI keeps one box decomposition per sample)."""


class RangeOptions(GPOptions):
    """``range``: every objective inside its window; the common GP options only."""


class UncertaintyOptions(GPOptions):
    """``uncertainty``: sample where the model is least certain; optionally stop when accurate."""

    failed: Literal["worst", "exclude"] = "exclude"
    """Failed trials: left out of the model by default (a model of the response, not an optimum)."""
    stop_cv_error: PositiveNumber | None = None
    """Stop once every objective's leave-one-out RMSE is at or below this (none: never stop)."""
    stop_min_observations: Annotated[int, Field(strict=True, ge=3)] = 5
    """Results needed before the stop rule is tried."""


class AeBoOptions(PlannerOptions):
    """``ae-bo``: BO in an autoencoder's latent space of element descriptors."""

    latent_dim: Literal["auto"] | Annotated[int, Field(strict=True, ge=1, le=8)] = "auto"
    """Latent coordinates: an integer 1-8 (always compress), or ``auto`` (parameters up to 8 free ones; else the
    smallest latent within ``max_reconstruction_error``, else the descriptors uncompressed)."""
    elements: dict[str, str] | None = None
    """Parameter name -> element symbol, where the names do not say it."""
    acquisition: AeBoAcquisition = "logei"
    """``logei`` (log expected improvement) or ``ucb`` (upper confidence bound) over the candidates; aliases as for ``bo``."""
    beta: NonNegativeNumber = 4.0
    """Exploration weight of ``ucb``."""
    n_candidates: PositiveInt = 20_000
    """Candidates drawn in a continuous space."""
    ae_steps: PositiveInt = 1500
    """Autoencoder training steps."""
    n_initial: PositiveInt = 2
    """Completed trials needed before the GP (fewer: random candidates; at least 2)."""
    shortlist: PositiveInt = 256
    """Candidates re-scored for a batch."""
    max_reconstruction_error: PositiveNumber = 0.02
    """Largest reconstruction error ``auto`` accepts for a latent size."""


class DesignOptions(PlannerOptions):
    """Options ``used`` and ``boed`` share (``planners.design``)."""

    descriptor: Annotated[str, Field(min_length=1)] | None = None
    """The measured array to model (default: the only one the trials carry)."""
    model: Literal["gp", "kernel_ridge"] = "gp"
    """The descriptor -> property model."""
    n_components: PositiveInt = 5
    """Principal components of the descriptor."""
    n_candidates: PositiveInt = 20_000
    """Candidates drawn in a continuous space."""
    n_initial: PositiveInt = 3
    """Usable samples before the model is used (fewer: random; at least 3)."""
    shortlist: PositiveInt = 256
    """Candidates re-scored for a batch."""


class UsedOptions(DesignOptions):
    """``used``: the candidate whose property is most uncertain before it is made."""

    n_mc: Annotated[int, Field(strict=True, ge=2)] = 64
    """Monte Carlo draws of the descriptor per candidate."""


class BoedOptions(DesignOptions):
    """``boed``: the candidate expected to lower the model's mean squared error over the candidates the most."""


def planner_option_problems(name: str, model: type[BaseModel], options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem of a planner's options as ``(option name, reason)``; empty when valid."""
    try:
        model.model_validate(dict(options))
    except ValidationError as exc:
        fields = list(model.model_fields)
        out = []
        for where, msg in field_problems(exc):
            if msg.startswith("unknown option"):
                msg = (f"unknown option of planner {name!r}{did_you_mean(where, fields)}; "
                       f"known options: {', '.join(fields)}" if fields else f"planner {name!r} takes no options")
            out.append((where or "(options)", msg))
        return out
    return []


__all__ = [
    "Acquisition", "AeBoAcquisition", "AeBoOptions", "BoOptions", "BoedOptions", "DesignOptions", "GPOptions", "MoboOptions", "PlannerOptions",
    "RandomOptions", "RangeOptions", "UncertaintyOptions", "UsedOptions", "planner_option_problems",
]
