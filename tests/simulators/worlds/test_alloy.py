"""Behaviour of the alloy-film world that a scientist (and the simulators) rely on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labpilot.simulators.worlds.alloy import AlloyWorld

FE75CO25 = {"Fe": 0.75, "Co": 0.25}


def powers_for(world: AlloyWorld, composition: dict[str, float], total_w: float = 100.0) -> dict[str, float]:
    """Target powers that give ``composition`` according to the lab's (nominal) calibration."""
    rates = world.nominal_rates()
    raw = {e: c / rates[e] for e, c in composition.items() if c > 0}
    scale = total_w / sum(raw.values())
    return {e: v * scale for e, v in raw.items()}


def film(world: AlloyWorld, composition: dict[str, float], temp_c: float = 25.0, duration_s: float = 600.0) -> dict:
    return world.deposit(powers_for(world, composition), duration_s, substrate_temp_c=temp_c)


def peak_position(two_theta: np.ndarray, counts: np.ndarray, low: float, high: float) -> float:
    window = (two_theta >= low) & (two_theta <= high)
    return float(two_theta[window][np.argmax(counts[window])])


def counts_near(two_theta: np.ndarray, counts: np.ndarray, center: float, half_width: float = 0.15) -> float:
    return float(counts[np.abs(two_theta - center) <= half_width].mean())


GRID = np.arange(30.0, 100.0, 0.01)


# ---- synthesis ------------------------------------------------------------


def test_pure_fe_film_is_bcc_with_the_iron_lattice_constant():
    truth = film(AlloyWorld(0), {"Fe": 1.0})
    assert truth["phase"] == "bcc"
    assert truth["composition"]["Fe"] == pytest.approx(1.0)
    assert truth["lattice_bcc_A"] == pytest.approx(2.866)


@pytest.mark.parametrize("seed", range(10))
def test_hidden_rate_offsets_shift_composition_by_a_few_percent_at_most(seed):
    world = AlloyWorld(seed)
    intended = {"Fe": 0.5, "Co": 0.2, "Ni": 0.1, "Ir": 0.1, "Pt": 0.1}
    truth = film(world, intended)
    assert truth["nominal_composition"] == pytest.approx(intended)
    diffs = np.array([truth["composition"][e] - intended[e] for e in intended])
    assert np.abs(diffs).max() <= 0.03
    assert np.abs(diffs).max() > 1e-4  # the calibration is never exactly right
    assert sum(truth["composition"].values()) == pytest.approx(1.0)


def test_thickness_grows_linearly_with_time_and_grains_with_substrate_temperature():
    world = AlloyWorld(3)
    short, long = film(world, FE75CO25, duration_s=300), film(world, FE75CO25, duration_s=900)
    assert long["thickness_nm"] == pytest.approx(3.0 * short["thickness_nm"])
    cold, hot = film(world, FE75CO25, temp_c=25.0), film(world, FE75CO25, temp_c=500.0)
    assert hot["grain_nm"] > 2.0 * cold["grain_nm"]


def test_phase_follows_composition():
    world = AlloyWorld(0)
    assert film(world, {"Fe": 0.7, "Co": 0.3})["phase"] == "bcc"
    assert film(world, {"Ni": 0.8, "Fe": 0.2})["phase"] == "fcc"
    assert film(world, {"Pt": 1.0})["phase"] == "fcc"
    assert film(world, {"Co": 0.95, "Fe": 0.05})["phase"] == "fcc"
    mixed = film(world, {"Fe": 0.65, "Ni": 0.35})
    assert mixed["phase"] == "bcc+fcc"
    assert 0.0 < mixed["phase_fractions"]["fcc"] < 1.0
    assert sum(mixed["phase_fractions"].values()) == pytest.approx(1.0)


def test_truth_survives_a_json_round_trip_unchanged():
    world = AlloyWorld(1)
    truth = film(world, {"Fe": 0.7, "Co": 0.2, "Ir": 0.05, "Pt": 0.05})
    again = json.loads(json.dumps(truth))
    assert again == truth
    a = world.xrd_pattern(truth, GRID, np.random.default_rng(7))
    b = world.xrd_pattern(again, GRID, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_same_seed_same_world_different_seed_different_world():
    powers = {"Fe": 60.0, "Co": 30.0, "Ir": 10.0}
    assert AlloyWorld(5).deposit(powers, 600) == AlloyWorld(5).deposit(powers, 600)
    assert AlloyWorld(5).deposit(powers, 600)["composition"] != AlloyWorld(6).deposit(powers, 600)["composition"]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"powers_w": {"Fe": 0.0, "Co": 0.0}, "duration_s": 60}, "zero"),
        ({"powers_w": {}, "duration_s": 60}, "zero"),
        ({"powers_w": {"Fe": -5.0, "Co": 10.0}, "duration_s": 60}, "Fe"),
        ({"powers_w": {"Cu": 10.0}, "duration_s": 60}, "Cu"),
        ({"powers_w": {"Fe": 10.0}, "duration_s": 0.0}, "duration_s"),
        ({"powers_w": {"Fe": 10.0}, "duration_s": 60, "pressure_pa": -1.0}, "pressure_pa"),
        ({"powers_w": {"Fe": 10.0}, "duration_s": 60, "substrate_temp_c": float("nan")}, "substrate_temp_c"),
    ],
)
def test_bad_deposition_requests_are_refused_with_the_reason(kwargs, words):
    with pytest.raises(ValueError, match=words):
        AlloyWorld(0).deposit(**kwargs)


# ---- diffraction ----------------------------------------------------------


def test_bcc_iron_110_peak_lands_at_its_bragg_angle():
    world = AlloyWorld(0)
    truth = film(world, {"Fe": 1.0}, temp_c=600.0, duration_s=2000.0)
    counts = world.xrd_pattern(truth, GRID, np.random.default_rng(0), dwell_s=20.0)
    # Kα1 positions for a = 2.866 Å; the unresolved Kα2 pulls the maximum slightly up.
    assert peak_position(GRID, counts, 40.0, 50.0) == pytest.approx(44.68, abs=0.04)
    assert peak_position(GRID, counts, 60.0, 70.0) == pytest.approx(65.03, abs=0.06)  # (200)
    assert peak_position(GRID, counts, 78.0, 88.0) == pytest.approx(82.35, abs=0.08)  # (211)


@pytest.mark.parametrize(
    "composition, structure, expected_two_theta",
    [
        ({"Pt": 1.0}, "fcc", 39.76),  # Pt (111), a = 3.924 Å
        ({"Ni": 1.0}, "fcc", 44.50),  # Ni (111), a = 3.524 Å
    ],
)
def test_fcc_111_peak_lands_at_its_bragg_angle(composition, structure, expected_two_theta):
    world = AlloyWorld(0)
    truth = film(world, composition, temp_c=600.0, duration_s=2000.0)
    assert truth["phase"] == structure
    counts = world.xrd_pattern(truth, GRID, np.random.default_rng(1))
    assert peak_position(GRID, counts, 35.0, 48.0) == pytest.approx(expected_two_theta, abs=0.04)


def test_peak_shifts_with_the_vegard_lattice_constant():
    world = AlloyWorld(0)
    fe = film(world, {"Fe": 1.0}, temp_c=600.0, duration_s=2000.0)
    fe_pt = film(world, {"Fe": 0.85, "Pt": 0.15}, temp_c=600.0, duration_s=2000.0)
    assert fe_pt["lattice_bcc_A"] > fe["lattice_bcc_A"]
    rng = np.random.default_rng(2)
    p_fe = peak_position(GRID, world.xrd_pattern(fe, GRID, rng), 40, 50)
    p_fept = peak_position(GRID, world.xrd_pattern(fe_pt, GRID, rng), 40, 50)
    d = 1.5406 / (2 * np.sin(np.radians(p_fept / 2)))
    assert p_fept < p_fe
    assert d * np.sqrt(2) == pytest.approx(fe_pt["lattice_bcc_A"], abs=0.004)


def test_fcc_and_bcc_patterns_differ_in_their_reflections():
    world = AlloyWorld(0)
    rng = np.random.default_rng(3)
    bcc = world.xrd_pattern(film(world, {"Fe": 1.0}), GRID, rng)
    fcc = world.xrd_pattern(film(world, {"Ni": 1.0}), GRID, rng)
    background = counts_near(GRID, bcc, 57.0, 1.0)
    # fcc (200) of Ni near 51.85°, absent in bcc; bcc (200) of Fe near 65.0°, absent in fcc.
    assert counts_near(GRID, fcc, 51.85) > 5 * background
    assert counts_near(GRID, bcc, 51.85) < 2 * background
    assert counts_near(GRID, bcc, 65.02) > 5 * background
    assert counts_near(GRID, fcc, 65.02) < 2 * background


def test_two_phase_film_shows_both_sets_of_reflections():
    world = AlloyWorld(0)
    truth = film(world, {"Fe": 0.65, "Ni": 0.35}, temp_c=400.0, duration_s=2000.0)
    counts = world.xrd_pattern(truth, GRID, np.random.default_rng(4))
    a_bcc, a_fcc = truth["lattice_bcc_A"], truth["lattice_fcc_A"]
    bcc200 = 2 * np.degrees(np.arcsin(1.5406 / (2 * a_bcc / 2)))
    fcc200 = 2 * np.degrees(np.arcsin(1.5406 / (2 * a_fcc / 2)))
    background = counts_near(GRID, counts, 57.0, 1.0)
    assert counts_near(GRID, counts, bcc200, 0.1) > 3 * background
    assert counts_near(GRID, counts, fcc200, 0.1) > 3 * background


def test_hotter_substrate_gives_narrower_peaks():
    world = AlloyWorld(0)
    rng = np.random.default_rng(5)

    def fwhm(counts):
        window = (GRID > 42) & (GRID < 47)
        x, y = GRID[window], counts[window] - np.median(counts[(GRID > 55) & (GRID < 60)])
        above = x[y >= y.max() / 2]
        return above.max() - above.min()

    cold = world.xrd_pattern(film(world, {"Fe": 1.0}, 25.0, 2000.0), GRID, rng, dwell_s=20)
    hot = world.xrd_pattern(film(world, {"Fe": 1.0}, 500.0, 2000.0), GRID, rng, dwell_s=20)
    assert fwhm(hot) < 0.6 * fwhm(cold)


def test_xrd_counting_noise_is_poisson():
    world = AlloyWorld(0)
    truth = film(world, FE75CO25)
    grid = np.linspace(40.0, 50.0, 200)
    rng = np.random.default_rng(6)
    draws = np.array([world.xrd_pattern(truth, grid, rng) for _ in range(400)])
    assert np.all(draws >= 0) and np.all(draws == np.round(draws))
    ratio = draws.var(axis=0, ddof=1) / draws.mean(axis=0)
    assert ratio.mean() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("bad", [np.array([]), np.array([[30.0, 40.0]]), np.array([0.0, 40.0]), np.array([30.0, np.nan])])
def test_bad_two_theta_grid_is_refused(bad):
    world = AlloyWorld(0)
    with pytest.raises(ValueError, match="two_theta"):
        world.xrd_pattern(film(world, FE75CO25), bad, np.random.default_rng(0))


def test_measuring_something_that_is_not_an_alloy_film_names_the_missing_keys():
    with pytest.raises(ValueError, match="lattice_bcc_A"):
        AlloyWorld(0).magnetization({"composition": {"Fe": 1.0}}, np.random.default_rng(0))


# ---- magnetization --------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_slater_pauling_peak_near_fe75co25_beats_pure_fe_and_pure_co(seed):
    world = AlloyWorld(seed)
    fe = world.true_magnetization({"Fe": 1.0})
    co = world.true_magnetization({"Co": 1.0})
    peak = world.true_magnetization(FE75CO25)
    assert fe == pytest.approx(1710, rel=0.02)
    assert peak == pytest.approx(1950, rel=0.02)
    assert peak > fe + 150 and peak > co + 300
    co_share = np.linspace(0.0, 1.0, 101)
    edge = [world.true_magnetization({"Fe": 1 - c, "Co": c}) for c in co_share]
    assert 0.18 <= co_share[int(np.argmax(edge))] <= 0.35


def test_fcc_and_nickel_lower_the_magnetization():
    world = AlloyWorld(0)
    comp = {"Fe": 0.5, "Co": 0.5}
    assert world.true_magnetization(comp, "fcc") < world.true_magnetization(comp, "bcc")
    assert world.true_magnetization({"Ni": 1.0}) == pytest.approx(485, rel=0.05)
    assert world.true_magnetization({"Fe": 0.75, "Ni": 0.25}) < world.true_magnetization(FE75CO25) - 100


@pytest.mark.parametrize("seed", range(5))
def test_hidden_ir_pt_region_beats_the_slater_pauling_peak(seed):
    world = AlloyWorld(seed)
    reference = world.true_magnetization(FE75CO25)
    with_ir = max(
        world.true_magnetization({"Fe": 0.75 * (1 - ir), "Co": 0.25 * (1 - ir) - 0.01, "Ir": ir + 0.01})
        for ir in np.linspace(0.01, 0.05, 9)
    )
    assert with_ir > 1.01 * reference
    assert world.true_magnetization({"Fe": 0.6, "Co": 0.2, "Ir": 0.2}) < 0.8 * reference
    best, value = world.best_in_space({"Ir": (0.0, 0.2), "Pt": (0.0, 0.2)}, n=20000)
    assert value > 1.02 * reference
    assert best["Ir"] + best["Pt"] > 0.02
    assert best["Fe"] > 0.5 and best["Co"] > 0.02  # inside the simplex, not on a corner or edge


def test_best_in_space_respects_bounds_and_matches_the_landscape():
    world = AlloyWorld(2)
    bounds = {"Fe": (0.2, 0.6), "Co": (0.1, 0.5), "Ir": (0.0, 0.0), "Pt": (0.0, 0.0)}
    best, value = world.best_in_space(bounds, n=20000)
    assert sum(best.values()) == pytest.approx(1.0)
    for name, (low, high) in bounds.items():
        assert low - 1e-9 <= best[name] <= high + 1e-9
    assert value == pytest.approx(world.true_magnetization(best))
    with pytest.raises(ValueError, match="no composition"):
        world.best_in_space({"Fe": (0.0, 0.2), "Co": (0.0, 0.2), "Ni": (0.0, 0.2), "Ir": (0.0, 0.2), "Pt": (0.0, 0.1)})
    with pytest.raises(ValueError, match="Cu"):
        world.best_in_space({"Cu": (0.0, 0.1)})


def test_magnetometer_noise_is_about_one_percent_and_unbiased():
    world = AlloyWorld(0)
    truth = film(world, FE75CO25)
    true = world.true_magnetization(truth["composition"])
    rng = np.random.default_rng(8)
    readings = np.array([world.magnetization(truth, rng) for _ in range(2000)])
    assert readings.mean() == pytest.approx(true, rel=0.001)
    assert readings.std() / true == pytest.approx(0.01, rel=0.1)


@pytest.mark.parametrize(
    "composition, words",
    [({"Fe": 0.5, "Co": 0.4}, "sum to 1"), ({"Fe": 1.2, "Co": -0.2}, ">= 0"), ({"Fe": 0.5, "Mn": 0.5}, "Mn")],
)
def test_true_magnetization_refuses_bad_compositions(composition, words):
    with pytest.raises(ValueError, match=words):
        AlloyWorld(0).true_magnetization(composition)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 300.0), min_size=5, max_size=5).filter(lambda p: sum(p) > 1.0))
def test_any_powered_deposit_gives_a_consistent_film(powers):
    world = AlloyWorld(0)
    truth = world.deposit(dict(zip(AlloyWorld.ELEMENTS, powers)), 300.0)
    assert sum(truth["composition"].values()) == pytest.approx(1.0)
    f_fcc = truth["phase_fractions"]["fcc"]
    assert truth["phase"] == ("bcc" if f_fcc == 0.0 else "fcc" if f_fcc == 1.0 else "bcc+fcc")
    assert 2.79 <= truth["lattice_bcc_A"] <= 3.12 and 3.52 <= truth["lattice_fcc_A"] <= 3.93
    assert world.magnetization(truth, np.random.default_rng(0)) >= 0.0
    batch = world.true_magnetization_batch(np.array([[truth["composition"][e] for e in AlloyWorld.ELEMENTS]]))
    assert batch[0] == pytest.approx(world.true_magnetization(truth["composition"]))
