"""The autoencoder: seeded, standardized, compresses real descriptors better than the mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labpilot.planners.autoencoder import fit_autoencoder
from labpilot.planners.descriptors import composition_descriptors


def _descriptors(n: int = 300, seed: int = 0) -> np.ndarray:
    frac = np.random.default_rng(seed).dirichlet(np.ones(4) * 0.7, size=n)
    return composition_descriptors(frac, ["Fe", "Co", "Ni", "Pt"])


def test_same_seed_same_encoder_other_seed_differs():
    x = _descriptors()
    a = fit_autoencoder(x, 2, seed=3, steps=150)
    b = fit_autoencoder(x, 2, seed=3, steps=150)
    c = fit_autoencoder(x, 2, seed=4, steps=150)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))
    assert not np.allclose(a.encode(x), c.encode(x))


def test_training_leaves_the_callers_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit_autoencoder(_descriptors(50), 2, seed=0, steps=20)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_compresses_descriptors_far_better_than_predicting_the_mean():
    x = _descriptors()
    ae = fit_autoencoder(x, 3, seed=0, steps=600)
    assert ae.encode(x).shape == (len(x), 3)
    assert ae.latent_dim == 3
    # 1.0 would be predicting every column's mean; the 36 descriptors of a
    # 4-element composition live on a 3-d manifold, so 3 latent dims suffice
    assert ae.reconstruction_error(x) < 0.1
    assert ae.losses[-1] < ae.losses[0]
    assert ae.reconstruct(x[:5]).shape == (5, x.shape[1])


def test_constant_columns_are_accepted():
    x = np.hstack([_descriptors(40), np.ones((40, 1))])
    ae = fit_autoencoder(x, 2, seed=0, steps=20)
    assert np.isfinite(ae.encode(x)).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"latent_dim": 0}, "latent_dim"), ({"latent_dim": 2.5}, "latent_dim"), ({"steps": 0}, "steps")],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_autoencoder(_descriptors(20), **{"latent_dim": 2, **kwargs})


def test_bad_data_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        fit_autoencoder(np.array([[1.0, np.nan], [2.0, 3.0]]), 1)
    with pytest.raises(ValueError, match="at least 2 rows"):
        fit_autoencoder(np.ones((1, 3)), 1)
    ae = fit_autoencoder(_descriptors(20), 2, steps=5)
    with pytest.raises(ValueError, match="shape"):
        ae.encode(np.ones((2, 3)))
