"""Picking from a huge pool fast, with a check that float32 and the low-rank std did not change the pick.

For a score that never decreases when the mean or the standard deviation
grows (log-EI, UCB: ``bo``'s scores) and a single-output GP:

1. **Screen** every row in float32 (``PoolPredictor.screen``): the mean and a
   low-rank standard deviation that is an upper bound of the exact one.
2. **Check** against float64: the ``shortlist`` best screened rows plus
   ``check_random`` random others get the exact float64 mean and std. The
   largest float32 mean error seen on them, ``dm``, and the largest amount by
   which an exact std exceeded its screened bound, ``ds`` (float32 rounding
   can put the bound a hair low), are the measured errors of the screen.
3. **Pick** on the shortlist with exact values (argmax, or the kriging-believer
   greedy batch ``pool_batch.greedy_batch`` when there are pending points or
   k > 1).
4. **Certify**: every row outside the shortlist has a score of at most
   ``score(mean + safety * dm, std + safety * ds)`` (monotonicity); if the
   worst pick's exact score is at least the largest of those bounds, no row
   outside the shortlist could have been picked instead. Otherwise the
   shortlist grows 4-fold and steps 2-4 repeat (at most to the whole pool,
   which is then exact). The result says whether it was certified, the
   measured errors and the final shortlist size.

The certificate is exact for the low-rank std (a proven bound) and
statistical for float32 rounding (measured on up to ``shortlist +
check_random`` rows, then multiplied by ``safety``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from labpilot.planners.pool_batch import ScoreFn, greedy_batch
from labpilot.planners.pool_predict import PoolPredictor

#: How many times the measured float32 error the certificate allows for.
SAFETY = 4.0


@dataclass
class PoolPick:
    """Picks (index into the pool, exact score) and how they were checked."""

    picks: list[tuple[int, float]]
    certified: bool
    shortlist: int
    mean_error: float
    std_error: float

    def note(self) -> str:
        """One line for the proposal's note."""
        status = "certified" if self.certified else "NOT certified"
        return (f"pool pick {status} on a float64 shortlist of {self.shortlist} "
                f"(float32 screen error: mean {self.mean_error:.2g}, std {self.std_error:.2g})")


def select(
    pred: PoolPredictor, model, feats: torch.Tensor, believed: torch.Tensor, k: int, fn: ScoreFn,
    shortlist: int, rng: np.random.Generator, check_random: int = 512, rank: int = 32, chunk: int = 2048,
    exclude: torch.Tensor | None = None,
) -> PoolPick:
    """Pick ``k`` rows of ``feats`` by ``fn`` (monotone in mean and std), screened in float32 and certified.

    ``exclude`` (bool per row, optional) marks rows that are never picked nor
    bound (used rows of a pool scored in place).
    """
    N = feats.shape[0]
    mean, std = pred.screen(feats, chunk=chunk, rank=rank)
    empty = mean[:0, None]
    ub0 = fn(mean[:, None], std[:, None], empty)
    if exclude is not None:
        ub0 = ub0.masked_fill(exclude, -torch.inf)
    size = min(N, max(shortlist, k))
    extra = torch.as_tensor(rng.choice(N, min(N, check_random), replace=False))
    while True:
        short = torch.topk(ub0, size).indices if size < N else torch.arange(N)
        if exclude is not None:
            short = short[~exclude[short]]
        in_short = torch.zeros(N, dtype=torch.bool)
        in_short[short] = True
        check = torch.cat([short, extra[~in_short[extra]]])
        em, es = pred.exact(feats[check])
        dm = float((em - mean[check]).abs().max())
        ds = float((es - std[check]).clamp_min(0.0).max())
        exact_m, exact_s = em[: len(short)], es[: len(short)]
        if believed.numel() or k > 1:
            local = greedy_batch([model], feats[short], believed, k, fn)
        else:
            scores = fn(exact_m[:, None], exact_s[:, None], empty)
            best = int(torch.argmax(scores))
            local = [(best, float(scores[best]))]
        picks = [(int(short[i]), s) for i, s in local]
        if size >= N:
            return PoolPick(picks, True, size, dm, ds)
        outside = ~in_short if exclude is None else ~in_short & ~exclude
        if not bool(outside.any()):
            return PoolPick(picks, True, size, dm, ds)
        bound = fn((mean[outside] + SAFETY * dm)[:, None], (std[outside] + SAFETY * ds)[:, None], empty).max()
        if min(s for _, s in picks) >= float(bound):
            return PoolPick(picks, True, size, dm, ds)
        size = min(N, size * 4)
