"""The z -> y property model and its cross-validated error."""

from __future__ import annotations

import numpy as np
import pytest

from labpilot.planners.property_model import PropertyModel, cross_validated_error, cross_validated_predictions, fold_ids, held_out_error


def pattern_world(n: int, seed: int = 0, noise: float = 0.02):
    """Synthetic 'XRD': one peak whose position and height follow a hidden state; y follows the state."""
    rng = np.random.default_rng(seed)
    state = rng.uniform(0, 1, size=(n, 2))
    grid = np.linspace(0, 1, 120)
    z = (1 + state[:, 1:2]) * np.exp(-((grid[None, :] - 0.2 - 0.6 * state[:, :1]) ** 2) / 0.005)
    z += noise * rng.standard_normal(z.shape)
    y = np.sin(3 * state[:, 0]) + state[:, 1]
    return z, y


@pytest.mark.parametrize("kind", ["gp", "kernel_ridge"])
def test_error_falls_with_more_samples_and_beats_the_mean(kind):
    z, y = pattern_world(400)
    test_z, test_y = z[200:], y[200:]
    few = held_out_error(z[:10], y[:10], test_z, test_y, kind=kind)
    many = held_out_error(z[:150], y[:150], test_z, test_y, kind=kind)
    assert many < few
    assert many < 0.5 * test_y.std()
    assert cross_validated_error(z[:150], y[:150], kind=kind) < 0.5 * y[:150].std()


def test_gp_gives_a_std_that_grows_away_from_the_data():
    z, y = pattern_world(60)
    model = PropertyModel("gp", 3).fit(z, y)
    s = model.scores(z)
    mean, std = model.predict_scores(np.vstack([s[:1], s[:1] + 10.0]), return_std=True)
    assert std[1] > 3 * std[0]
    assert abs(mean[0] - y[0]) < 0.5
    _, kr_std = PropertyModel("kernel_ridge", 3).fit(z, y).predict(z[:2], return_std=True)
    np.testing.assert_array_equal(kr_std, 0.0)


def test_fewer_samples_than_components_still_fit():
    z, y = pattern_world(3)
    model = PropertyModel("gp", 5).fit(z, y)
    assert model.pca_.n_components_ == 2
    assert model.predict(z).shape == (3,)


def test_cross_validation_never_sees_the_held_out_sample():
    z, y = pattern_world(30)
    y = y.copy()
    y[7] = 100.0  # an outlier: a model that saw it would predict it
    pred = cross_validated_predictions(z, y, "kernel_ridge", folds="loo")
    assert pred[7] < 10.0


def test_fold_ids_are_seeded_and_balanced():
    a = fold_ids(23, 5, seed=1)
    np.testing.assert_array_equal(a, fold_ids(23, 5, seed=1))
    assert sorted(np.bincount(a)) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(np.sort(fold_ids(6, "loo")), np.arange(6))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: PropertyModel("forest"), "must be one of"),
        (lambda: PropertyModel("gp", 0), "n_components"),
        (lambda: PropertyModel().fit(np.ones((3, 4)), np.ones(2)), "3 descriptor rows but 2"),
        (lambda: PropertyModel().fit(np.ones(4), np.ones(4)), "2-D"),
        (lambda: PropertyModel().fit(np.ones((1, 4)), np.ones(1)), "at least 2 samples"),
        (lambda: PropertyModel().fit(np.full((3, 2), np.nan), np.ones(3)), "NaN"),
        (lambda: fold_ids(5, 1), "at least 2 folds"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fe_ga_pd_xrd_predicts_magnetization(fe_ga_pd):
    z, y = fe_ga_pd.xrd, fe_ga_pd.magnetization
    idx = np.random.default_rng(0).permutation(len(y))
    train, test = idx[:70], idx[70:]
    err = held_out_error(z[train], y[train], z[test], y[test], kind="gp")
    assert err < 0.5 * y[test].std()
