"""The shared GP helper: fit, pool-scale posterior, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labpilot.planners.gp import fit_gp, posterior_mean_std


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


def test_pool_scoring_matches_botorch_posterior_in_any_chunking() -> None:
    x, y = data(200)
    model = fit_gp(x, y)
    xt, _ = data(600, seed=2)
    with torch.no_grad():
        post = model.posterior(xt.unsqueeze(-2))
    m1, s1 = posterior_mean_std(model, xt, chunk=600)
    m2, s2 = posterior_mean_std(model, xt, chunk=97)
    assert torch.allclose(m1[:, 0], post.mean.reshape(-1), atol=1e-8)
    assert torch.allclose(s1[:, 0], post.variance.reshape(-1).sqrt(), atol=1e-8)
    assert torch.allclose(m1, m2) and torch.allclose(s1, s2)


def test_low_rank_std_is_a_close_upper_bound() -> None:
    from labpilot.planners.pool_predict import predictor

    x, y = data(400)
    model = fit_gp(x, y)
    xt, _ = data(2000, seed=3)
    pred = predictor(model)
    mean, exact = pred.predict(xt)
    _, low_rank = pred.predict(xt, rank=100)
    assert (low_rank >= exact - 1e-9).all()  # dropping eigen-directions only adds variance
    assert float(((low_rank - exact) / exact).median()) < 0.05
    mean32, approx32 = pred.predict(xt, rank=100, fast_dtype=True)
    prior_std = pred.prior_var**0.5 * pred.y_std
    assert float((mean32 - mean).abs().max()) < 1e-3 * prior_std
    assert float((approx32 - low_rank).abs().max()) < 3e-3 * prior_std  # float32 rounding only


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


@pytest.mark.parametrize("kind, nu", [("matern", 0.5), ("matern", 1.5), ("matern", 2.5), ("rbf", 0.0)])
def test_pool_kernels_match_gpytorch(kind: str, nu: float) -> None:
    from gpytorch.kernels import MaternKernel, RBFKernel

    from labpilot.planners.pool_predict import _cross, _kernel_spec

    kernel = MaternKernel(nu=nu, ard_num_dims=3) if kind == "matern" else RBFKernel(ard_num_dims=3)
    kernel = kernel.double()
    kernel.lengthscale = torch.tensor([[0.3, 0.7, 1.5]], dtype=torch.float64)
    a, b = data(50)[0], data(40, seed=5)[0]
    spec = _kernel_spec(kernel)
    ls = spec[2]
    with torch.no_grad():
        want = kernel(a, b).to_dense()
    assert torch.allclose(_cross(spec, a / ls, b / ls), want, atol=1e-10)
