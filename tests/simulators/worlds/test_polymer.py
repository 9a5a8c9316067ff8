"""Behaviour of the processed-polypropylene world that a scientist (and the simulators) rely on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labpilot.simulators.worlds.polymer import PolymerWorld

XRD_GRID = np.arange(5.0, 35.0, 0.02)
DSC_GRID = np.arange(30.0, 200.0, 0.1)
HEATING_RATE_K_PER_S = 10.0 / 60.0


def random_samples(world: PolymerWorld, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [world.synthesize(*(rng.uniform(lo, hi) for lo, hi in PolymerWorld.BOUNDS.values())) for _ in range(n)]


def r_squared(features: np.ndarray, target: np.ndarray) -> float:
    """In-sample R² of an ordinary least-squares fit with intercept."""
    a = np.column_stack([np.ones(len(features)), features])
    coef, *_ = np.linalg.lstsq(a, target, rcond=None)
    resid = target - a @ coef
    return 1.0 - resid.var() / target.var()


# ---- structure ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_crystallinity_rises_with_stereoregularity_and_cooling_temperature(seed):
    world = PolymerWorld(seed)
    by_mmmm = [world.synthesize(400.0, s, 90.0)["crystallinity"] for s in (0.85, 0.90, 0.95, 0.99)]
    assert np.all(np.diff(by_mmmm) > 0)
    by_tc = [world.synthesize(400.0, 0.95, tc)["crystallinity"] for tc in (20.0, 60.0, 120.0)]
    assert np.all(np.diff(by_tc) > 0)
    assert 0.1 < min(by_mmmm + by_tc) and max(by_mmmm + by_tc) < 0.85


def test_quenching_freezes_mesophase_and_slow_cooling_gives_alpha():
    world = PolymerWorld(0)
    quenched, slow = world.synthesize(400.0, 0.95, 20.0), world.synthesize(400.0, 0.95, 120.0)
    assert quenched["phase_fractions"]["mesophase"] > 0.3
    assert slow["phase_fractions"]["mesophase"] < 0.02
    assert slow["phase_fractions"]["alpha"] > 0.8
    for truth in (quenched, slow):
        assert sum(truth["phase_fractions"].values()) == pytest.approx(1.0)


def test_melting_point_follows_lamellar_thickness_gibbs_thomson():
    samples = random_samples(PolymerWorld(1), 60, seed=0)
    lam = np.array([s["lamellar_thickness_nm"] for s in samples])
    tm = np.array([s["melting_point"] for s in samples])
    order = np.argsort(lam)
    assert np.all(np.diff(tm[order]) > 0)  # thicker lamellae always melt higher
    assert 120.0 < tm.min() and tm.max() < 180.0
    # Gibbs-Thomson: Tm is linear in 1/l.
    assert r_squared(1.0 / lam[:, None], tm) > 0.999


def test_truth_is_json_serializable_deterministic_and_seed_dependent():
    a = PolymerWorld(3).synthesize(250.0, 0.93, 80.0)
    assert json.loads(json.dumps(a)) == a
    assert PolymerWorld(3).synthesize(250.0, 0.93, 80.0) == a
    assert PolymerWorld(4).synthesize(250.0, 0.93, 80.0)["crystallinity"] != a["crystallinity"]


def test_process_scatter_only_with_an_rng():
    world = PolymerWorld(0)
    plain = world.synthesize(300.0, 0.95, 70.0)
    scattered = [world.synthesize(300.0, 0.95, 70.0, rng=np.random.default_rng(i))["crystallinity"] for i in range(50)]
    assert np.std(scattered) > 0.003
    assert np.mean(scattered) == pytest.approx(plain["crystallinity"], abs=0.005)


@pytest.mark.parametrize(
    "args, words",
    [
        ((50.0, 0.95, 70.0), r"molecular_weight must be within \[100, 800\]"),
        ((300.0, 0.80, 70.0), r"stereoregularity must be within \[0.85, 0.99\]"),
        ((300.0, 0.95, 130.0), r"cooling_temperature must be within \[20, 120\]"),
        ((300.0, float("nan"), 70.0), "stereoregularity"),
    ],
)
def test_out_of_bounds_knobs_are_refused_naming_the_parameter_and_bound(args, words):
    with pytest.raises(ValueError, match=words):
        PolymerWorld(0).synthesize(*args)


def test_candidate_pool_is_15_grades_by_5_processes_inside_the_bounds():
    world = PolymerWorld(0)
    pool = world.candidate_pool()
    assert len(pool) == 75 and pool == PolymerWorld(0).candidate_pool()
    assert len({(p["molecular_weight"], p["stereoregularity"]) for p in pool}) == 15
    assert sorted({p["cooling_temperature"] for p in pool}) == [20.0, 45.0, 70.0, 95.0, 120.0]
    for p in pool:
        for name, (low, high) in PolymerWorld.BOUNDS.items():
            assert low <= p[name] <= high


# ---- XRD ------------------------------------------------------------------


def peak_height(counts: np.ndarray, center: float, side: float = 0.6) -> float:
    """Counts at a peak above the mean level ``side`` degrees either side."""
    at = counts[np.abs(XRD_GRID - center) < 0.05].mean()
    sides = [counts[np.abs(XRD_GRID - (center + d)) < 0.05].mean() for d in (-side, side)]
    return float(at - np.mean(sides))


def test_slow_cooled_pattern_shows_the_alpha_reflections():
    world = PolymerWorld(0)
    counts = world.xrd_pattern(world.synthesize(400.0, 0.97, 120.0), XRD_GRID, np.random.default_rng(0), dwell_s=10)
    for center in (14.1, 16.9, 18.6):
        window = np.abs(XRD_GRID - center) < 0.6
        assert XRD_GRID[window][np.argmax(counts[window])] == pytest.approx(center, abs=0.1)
        assert peak_height(counts, center) > 0.3 * counts.max()


def test_quenched_sample_trades_sharp_alpha_peaks_for_broad_mesophase_humps():
    world = PolymerWorld(0)
    rng = np.random.default_rng(1)
    slow = world.xrd_pattern(world.synthesize(400.0, 0.97, 120.0), XRD_GRID, rng, dwell_s=10)
    quenched = world.xrd_pattern(world.synthesize(400.0, 0.97, 20.0), XRD_GRID, rng, dwell_s=10)
    assert peak_height(quenched, 18.6) < 0.5 * peak_height(slow, 18.6)
    # the mesophase hump fills the valley between (110) and (040)
    valley = lambda c: c[np.abs(XRD_GRID - 15.2) < 0.2].mean() / c.max()  # noqa: E731
    assert valley(quenched) > 1.5 * valley(slow)


def test_beta_phase_shows_its_300_reflection():
    world = PolymerWorld(0)
    rng = np.random.default_rng(2)
    betas = {tc: world.synthesize(400.0, 0.99, tc) for tc in np.arange(70.0, 121.0, 5.0)}
    rich_tc = max(betas, key=lambda tc: betas[tc]["phase_fractions"]["beta"])
    rich, poor = betas[rich_tc], world.synthesize(400.0, 0.99, 120.0)
    assert rich["phase_fractions"]["beta"] > 0.1 and poor["phase_fractions"]["beta"] < 0.01
    # (300) at 16.1° sits between alpha (110) 14.1° and (040) 16.9°: a local maximum only with beta
    rich_height = peak_height(world.xrd_pattern(rich, XRD_GRID, rng, dwell_s=10), 16.1, side=0.3)
    poor_height = peak_height(world.xrd_pattern(poor, XRD_GRID, rng, dwell_s=10), 16.1, side=0.3)
    assert rich_height > 2000
    assert poor_height < 0.05 * rich_height


def test_xrd_counts_are_poisson():
    world = PolymerWorld(0)
    truth = world.synthesize(300.0, 0.9, 60.0)
    grid = np.linspace(10.0, 25.0, 150)
    rng = np.random.default_rng(3)
    draws = np.array([world.xrd_pattern(truth, grid, rng) for _ in range(400)])
    assert (draws.var(axis=0, ddof=1) / draws.mean(axis=0)).mean() == pytest.approx(1.0, abs=0.05)


# ---- DSC ------------------------------------------------------------------


@pytest.mark.parametrize("knobs", [(200.0, 0.97, 120.0), (600.0, 0.88, 110.0), (400.0, 0.93, 70.0)])
def test_dsc_endotherm_peaks_at_the_melting_point_with_area_of_crystallinity_times_207(knobs):
    world = PolymerWorld(2)
    truth = world.synthesize(*knobs)
    flow = world.dsc_curve(truth, DSC_GRID, np.random.default_rng(4))
    tm = truth["melting_point"]
    assert DSC_GRID[np.argmax(flow)] == pytest.approx(tm, abs=0.5)
    # What an analyst does: a straight baseline under the peak, area / heating rate → J/g.
    t1, t2 = tm - 45.0, tm + 15.0
    window = (DSC_GRID >= t1) & (DSC_GRID <= t2)
    f1 = flow[np.abs(DSC_GRID - t1) < 1.0].mean()
    f2 = flow[np.abs(DSC_GRID - t2) < 1.0].mean()
    line = f1 + (f2 - f1) * (DSC_GRID[window] - t1) / (t2 - t1)
    enthalpy = np.trapezoid(flow[window] - line, DSC_GRID[window]) / HEATING_RATE_K_PER_S
    assert enthalpy == pytest.approx(207.0 * truth["crystallinity"], rel=0.05)


def test_dsc_scalars_are_noisy_but_unbiased_readings_of_the_truth():
    world = PolymerWorld(0)
    truth = world.synthesize(300.0, 0.95, 90.0)
    rng = np.random.default_rng(5)
    readings = [world.dsc_scalars(truth, rng) for _ in range(1000)]
    tm = np.array([r["melting_point"] for r in readings])
    xc = np.array([r["crystallinity"] for r in readings])
    assert tm.mean() == pytest.approx(truth["melting_point"], abs=0.05)
    assert 0.1 < tm.std() < 1.0
    assert xc.mean() == pytest.approx(truth["crystallinity"], rel=0.005)
    assert 0.005 < xc.std() / truth["crystallinity"] < 0.05


def test_dsc_refuses_a_bad_temperature_axis():
    world = PolymerWorld(0)
    truth = world.synthesize(300.0, 0.95, 90.0)
    with pytest.raises(ValueError, match="temperature"):
        world.dsc_curve(truth, np.array([30.0, np.nan]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="missing key"):
        world.dsc_curve({"crystallinity": 0.5}, DSC_GRID, np.random.default_rng(0))


# ---- properties -------------------------------------------------------------


def test_properties_are_in_the_range_of_real_polypropylene():
    world = PolymerWorld(0)
    props = np.array([list(world.true_properties(t).values()) for t in random_samples(world, 300, seed=1)])
    modulus, impact = props[:, 0], props[:, 1]
    assert 700 < np.percentile(modulus, 5) and np.percentile(modulus, 95) < 2200
    assert 1.5 < np.percentile(impact, 5) and np.percentile(impact, 95) < 18


@pytest.mark.parametrize("seed", range(3))
def test_properties_depend_mostly_on_measured_structure_not_on_the_knobs(seed):
    world = PolymerWorld(seed)
    rng = np.random.default_rng(seed)
    bounds = PolymerWorld.BOUNDS.values()
    # as a synthesizer simulator makes them: with sample-to-sample process scatter
    samples = [world.synthesize(*(rng.uniform(lo, hi) for lo, hi in bounds), rng=rng) for _ in range(150)]
    measured = np.array([
        [world.dsc_scalars(t, rng)["crystallinity"], t["lamellar_thickness_nm"], t["phase_fractions"]["beta"],
         t["phase_fractions"]["mesophase"]]
        for t in samples
    ])
    knobs = np.array([[t["molecular_weight"], t["stereoregularity"], t["cooling_temperature"]] for t in samples])
    knobs = (knobs - knobs.mean(axis=0)) / knobs.std(axis=0)
    # a fair rival: a full quadratic model of the knobs (9 terms vs 6 structure terms)
    knob_features = np.column_stack([knobs] + [knobs[:, i] * knobs[:, j] for i in range(3) for j in range(i, 3)])
    structure_features = np.column_stack([measured, measured[:, 0] * measured[:, 3], measured[:, 0] * measured[:, 2]])
    props = [world.tensile(t, rng) for t in samples]
    modulus = np.array([p["tensile_modulus"] for p in props])
    log_impact = np.log([p["impact_strength"] for p in props])
    assert r_squared(structure_features, modulus) > 0.9
    assert r_squared(structure_features, log_impact) > 0.8
    assert r_squared(structure_features, modulus) > r_squared(knob_features, modulus) + 0.02
    assert r_squared(structure_features, log_impact) > r_squared(knob_features, log_impact) + 0.05
    assert np.corrcoef(measured[:, 0], modulus)[0, 1] > 0.8  # crystallinity stiffens
    assert np.corrcoef(measured[:, 0], log_impact)[0, 1] < -0.3  # ... and embrittles


def test_molecular_weight_acts_only_weakly_and_directly():
    world = PolymerWorld(0)
    truth = world.synthesize(300.0, 0.95, 90.0)
    low, high = dict(truth, molecular_weight=100.0), dict(truth, molecular_weight=800.0)
    p_low, p_high = world.true_properties(low), world.true_properties(high)
    assert 1.2 < p_high["impact_strength"] / p_low["impact_strength"] < 1.8
    assert abs(p_high["tensile_modulus"] / p_low["tensile_modulus"] - 1.0) < 0.1


def test_beta_phase_toughens():
    world = PolymerWorld(0)
    truth = world.synthesize(400.0, 0.97, 100.0)
    alpha_only = dict(truth, phase_fractions={"alpha": 1.0, "beta": 0.0, "mesophase": 0.0})
    beta_rich = dict(truth, phase_fractions={"alpha": 0.7, "beta": 0.3, "mesophase": 0.0})
    assert world.true_properties(beta_rich)["impact_strength"] > 1.5 * world.true_properties(alpha_only)["impact_strength"]
    assert world.true_properties(beta_rich)["tensile_modulus"] < world.true_properties(alpha_only)["tensile_modulus"]


def test_tensile_noise_is_unbiased_and_a_few_percent():
    world = PolymerWorld(0)
    truth = world.synthesize(300.0, 0.95, 90.0)
    true = world.true_properties(truth)
    rng = np.random.default_rng(6)
    readings = [world.tensile(truth, rng) for _ in range(2000)]
    for key, sd in (("tensile_modulus", 0.02), ("impact_strength", 0.05)):
        values = np.array([r[key] for r in readings]) / true[key]
        assert values.mean() == pytest.approx(1.0, abs=0.005)
        assert values.std() == pytest.approx(sd, rel=0.1)
