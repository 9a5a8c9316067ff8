"""``planners.grid_gp``: the numpy grid GP that ``property_model`` and ``boed`` share."""

from __future__ import annotations

import numpy as np

from labpilot.planners.grid_gp import GridGP, sqdist


def test_sqdist_is_the_pairwise_squared_distance_and_never_negative():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    brute = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(sqdist(a, b), brute, atol=1e-12)
    same = sqdist(a * 1e8, a * 1e8)  # cancellation can go below zero: clipped
    assert (same >= 0).all()


def test_grid_gp_interpolates_a_smooth_function_and_is_unsure_far_from_its_data():
    x = np.linspace(0, 1, 15)[:, None]
    y = np.sin(6 * x[:, 0])
    gp = GridGP().fit(x, y)
    grid = np.linspace(0.02, 0.98, 40)[:, None]
    mean, sd = gp.predict(grid, return_std=True)
    assert np.max(np.abs(mean - np.sin(6 * grid[:, 0]))) < 0.05
    far_mean, far_sd = gp.predict(np.array([[4.0]]), return_std=True)
    assert far_sd[0] > 10 * sd.max() and abs(far_mean[0] - y.mean()) < 0.1
    assert gp.ell_ > 0 and gp.noise_ in GridGP.NOISE_RATIOS
