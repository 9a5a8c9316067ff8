"""The shared GP helper: fit, pool-scale posterior, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from planners.gp import fit_gp, posterior_mean_std


def data(n: int, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    return x, torch.sin(4 * x[:, 0]) + x[:, 1] ** 2


def test_fit_learns_a_smooth_function() -> None:
    x, y = data(60)
    model = fit_gp(x, y)
    xt, yt = data(500, seed=1)
    mean, std = posterior_mean_std(model, xt)
    rmse = float(torch.sqrt(torch.mean((mean[:, 0] - yt) ** 2)))
    assert rmse < 0.05 * float(yt.std())
    assert (std > 0).all()
    # the ARD lengthscale of the irrelevant third input is longer than the others'
    ls = model.covar_module.lengthscale.detach().reshape(-1)
    assert ls[2] > ls[0]


def test_chunked_scoring_equals_one_shot_and_fast_variance_is_close() -> None:
    x, y = data(200)
    model = fit_gp(x, y)
    xt, _ = data(3000, seed=2)
    m1, s1 = posterior_mean_std(model, xt, chunk=3000, fast=False)
    m2, s2 = posterior_mean_std(model, xt, chunk=257, fast=False)
    assert torch.allclose(m1, m2) and torch.allclose(s1, s2)
    m3, s3 = posterior_mean_std(model, xt, chunk=500, fast=True)
    assert torch.allclose(m1, m3, atol=1e-6)
    assert float((s1 - s3).abs().max()) < 0.05 * float(s1.max())


def test_two_outputs_and_fixed_bounds() -> None:
    x, y = data(40)
    y2 = torch.stack([y, -2 * y + 1], dim=-1)
    model = fit_gp(x, y2, bounds=torch.stack([torch.zeros(3), torch.ones(3)]).double())
    mean, std = posterior_mean_std(model, x[:5])
    assert mean.shape == (5, 2) and std.shape == (5, 2)
    assert torch.allclose(mean[:, 1], -2 * mean[:, 0] + 1, atol=0.05)


@pytest.mark.parametrize(
    "x, y, kw, message",
    [
        (torch.rand(5, 2), torch.rand(4), {}, "5 rows but train_y has 4"),
        (torch.rand(5, 2), torch.tensor([1.0, np.nan, 0, 0, 0]), {}, "train_y contains NaN"),
        (torch.rand(5, 2), torch.rand(5), {"bounds": torch.zeros(2, 3)}, r"bounds must have shape \(2, 2\)"),
        (torch.rand(5, 2, 1), torch.rand(5), {}, "train_x must be 1-D or 2-D"),
    ],
)
def test_bad_training_data_is_refused(x, y, kw, message) -> None:
    with pytest.raises(ValueError, match=message):
        fit_gp(x, y, **kw)
