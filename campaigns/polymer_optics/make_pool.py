"""A reproducible pool of virtual polymers, and the hidden truth of their optics.

``campaigns/polymer_optics.toml`` searches this pool for polymers with a high
refractive index *and* a high Abbe number (low dispersion), the classic
trade-off of optical polymers (lenses, waveguides, LED encapsulants).

Each polymer has seven hidden **latent factors** (aromatic conjugation, sulfur
content, heavy halogens, fluorination, side-group bulk, polarity, repeat-unit
size), drawn around the centre of one of ten polymer **families**
(acrylates, styrenics, polycarbonates, polyimides, polysulfides, ...). What a
planner sees are ~170 **descriptors** computed from the latents with noise, in
correlated groups, as a cheminformatics toolkit would report them:

- ``d_cnt_*``: substructure counts per repeat unit (integers, Poisson),
- ``d_vol_*``: molar and van der Waals volumes, packing,
- ``d_pol_*``: polarizability and molar-refraction contributions,
- ``d_conj_*``: conjugation (aromatic fraction, sp2 fraction, pi electrons, gap proxies),
- ``d_topo_*``: topological indices (they grow with the repeat unit's size),
- ``d_polar_*``: polarity (TPSA, dipole, partial charges),
- ``d_misc_*``: descriptors unrelated to optics (noise the model must learn to ignore).

The **truth** is a single-oscillator (Wemple-DiDomenico) dispersion model,
``n(E)^2 = 1 + Ed*E0 / (E0^2 - E^2)``: the oscillator energy ``E0`` falls with
conjugation (aromatic rings absorb closer to the visible: more dispersion),
the dispersion energy ``Ed`` grows with polarizable electrons per volume
(sulfur, bromine, aromatic rings) and falls with fluorine and free volume
(bulky side groups pack badly, nonlinearly). The refractive index is
``n_d`` at 587.6 nm and the Abbe number ``(n_d - 1) / (n_F - n_C)`` (486.1 and
656.3 nm): high index tends to come with a low Abbe number, as in real
polymers, with sulfur-rich families as the way out.

Run ``python campaigns/polymer_optics/make_pool.py`` to (re)write
``pool.parquet`` (what the campaign reads) and ``truth.csv`` (what only the
simulation reads) beside this file; the same seed gives the same numbers.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
POOL_FILE = HERE / "pool.parquet"
TRUTH_FILE = HERE / "truth.csv"
ID_COLUMN = "polymer_id"
DEFAULT_SEED = 2026
DEFAULT_ROWS = 10_000

#: The latent factors, in column order of the latent matrix.
LATENTS = ("aromatic", "sulfur", "halogen", "fluorine", "bulk", "polar", "size")

#: Polymer families: name, share of the pool, centre of each latent (``LATENTS`` order).
FAMILIES: tuple[tuple[str, float, tuple[float, ...]], ...] = (
    ("acrylate", 0.16, (0.05, 0.00, 0.02, 0.05, 0.35, 0.45, 0.35)),
    ("styrenic", 0.12, (0.55, 0.02, 0.05, 0.02, 0.30, 0.10, 0.40)),
    ("polycarbonate", 0.10, (0.60, 0.00, 0.05, 0.02, 0.45, 0.50, 0.65)),
    ("polyester", 0.10, (0.35, 0.00, 0.02, 0.02, 0.20, 0.55, 0.55)),
    ("polyimide", 0.08, (0.85, 0.05, 0.05, 0.10, 0.40, 0.70, 0.85)),
    ("polysulfide", 0.10, (0.20, 0.75, 0.05, 0.00, 0.20, 0.15, 0.45)),
    ("thiourethane", 0.08, (0.30, 0.55, 0.05, 0.00, 0.30, 0.60, 0.60)),
    ("fluoropolymer", 0.08, (0.02, 0.00, 0.05, 0.85, 0.40, 0.15, 0.40)),
    ("halogenated", 0.08, (0.40, 0.05, 0.70, 0.05, 0.30, 0.20, 0.50)),
    ("cycloolefin", 0.10, (0.02, 0.00, 0.00, 0.00, 0.75, 0.05, 0.50)),
)

#: Fraunhofer lines (eV): d 587.6 nm, F 486.1 nm, C 656.3 nm.
E_D, E_F, E_C = 1239.84 / 587.6, 1239.84 / 486.1, 1239.84 / 656.3


@dataclass(frozen=True)
class Pool:
    """The generated pool: ids, descriptor names and values, the latents and the noise-free truth."""

    ids: list[str]
    names: list[str]
    descriptors: np.ndarray  # (rows, descriptors), float64 (counts are whole numbers)
    latents: np.ndarray  # (rows, len(LATENTS)), hidden
    refractive_index: np.ndarray  # n_d, dimensionless
    abbe_number: np.ndarray  # V_d, dimensionless


def _latents(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Latent factors in [0, 1] around family centres; returns (latents, family index)."""
    shares = np.array([f[1] for f in FAMILIES])
    family = rng.choice(len(FAMILIES), size=rows, p=shares / shares.sum())
    centres = np.array([f[2] for f in FAMILIES])[family]
    z = centres + rng.normal(0.0, 0.13, size=centres.shape)
    # copolymers: a fifth of the rows blend two families
    blend = rng.random(rows) < 0.2
    other = np.array([f[2] for f in FAMILIES])[rng.choice(len(FAMILIES), size=rows)]
    w = rng.uniform(0.2, 0.8, size=(rows, 1))
    z = np.where(blend[:, None], w * z + (1 - w) * other, z)
    return np.clip(z, 0.0, 1.0), family


def optics(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free refractive index n_d and Abbe number V_d from the latents (Wemple-DiDomenico)."""
    aro, sul, hal, flu, bulk, pol, _size = z.T
    e0 = 12.5 - 5.0 * aro**0.8 - 2.6 * sul - 1.8 * hal + 1.2 * flu + 0.4 * pol - 0.8 * aro * hal  # eV
    packing = 1.0 / (1.0 + 0.25 * bulk**2 * (1.0 - 0.5 * aro))  # bulky side groups: free volume
    ed = packing * (14.0 + 0.5 * aro + 3.5 * sul + 3.5 * hal - 6.0 * flu + 1.0 * pol + 1.5 * sul * aro)  # eV

    def n(energy: float) -> np.ndarray:
        return np.sqrt(1.0 + ed * e0 / (e0**2 - energy**2))

    nd = n(E_D)
    return nd, (nd - 1.0) / (n(E_F) - n(E_C))


def _descriptors(rng: np.random.Generator, z: np.ndarray) -> tuple[list[str], np.ndarray]:
    """About 170 descriptors in correlated groups, each a noisy view of the latents."""
    rows = z.shape[0]
    aro, sul, hal, flu, bulk, pol, size = z.T
    atoms = 8.0 + 40.0 * size  # heavy atoms per repeat unit
    names: list[str] = []
    cols: list[np.ndarray] = []

    def add(name: str, values: np.ndarray) -> None:
        names.append(name)
        cols.append(np.asarray(values, dtype=float))

    def noisy(x: np.ndarray, rel: float) -> np.ndarray:
        return x * rng.lognormal(0.0, rel, size=rows)

    # substructure counts (Poisson; rates from the latents and the unit's size)
    named_counts = {
        "benzene": 0.10 * aro, "naphthalene": 0.02 * aro**2, "thiophene": 0.02 * aro * sul,
        "thioether": 0.12 * sul, "disulfide": 0.03 * sul, "sulfone": 0.02 * sul * pol,
        "thiourethane": 0.03 * sul * pol, "F": 0.9 * flu, "CF2": 0.3 * flu, "CF3": 0.08 * flu * bulk,
        "Cl": 0.12 * hal, "Br": 0.10 * hal, "I": 0.01 * hal, "ester": 0.06 * pol, "carbonate": 0.04 * pol * aro,
        "imide": 0.05 * pol * aro, "amide": 0.03 * pol, "ether": 0.05 * (1 - sul) * pol, "hydroxyl": 0.03 * pol,
        "carbonyl": 0.09 * pol, "CH3": 0.12 * bulk, "tert_butyl": 0.03 * bulk, "cyclohexyl": 0.04 * bulk * (1 - aro),
        "norbornyl": 0.03 * bulk * (1 - aro), "adamantyl": 0.01 * bulk, "CH2": 0.25 * (1 - bulk) * (1 - flu),
        "vinyl": 0.01 + 0.01 * aro, "nitrile": 0.02 * pol * (1 - flu), "quaternary_C": 0.04 * bulk,
        "rotatable_bond": 0.15 * (1 - aro),
    }
    for name, rate in named_counts.items():
        add(f"d_cnt_{name}", rng.poisson(np.clip(rate, 0, None) * atoms))
    loadings = rng.dirichlet(np.full(7, 0.4), size=30) * 0.15  # anonymous fragments (fingerprint bits)
    for j, w in enumerate(loadings):
        add(f"d_cnt_frag_{j:03d}", rng.poisson((z @ w) * atoms))

    # volumes (extensive) and packing (intensive)
    vdw = atoms * (13.0 + 3.0 * hal + 2.0 * sul - 1.0 * flu) * (1 + 0.04 * bulk)  # A^3 per unit
    molar_volume = vdw * 0.602 * 1.45 * (1.0 + 0.25 * bulk**2)  # cm^3/mol
    add("d_vol_vdw_a3", noisy(vdw, 0.02))
    add("d_vol_molar_cm3", noisy(molar_volume, 0.03))
    add("d_vol_packing", noisy(1.0 / (1.0 + 0.25 * bulk**2 * (1 - 0.5 * aro)), 0.02))
    add("d_vol_free_fraction", noisy(0.1 + 0.15 * bulk**2, 0.05))
    add("d_vol_density_g_cm3", noisy(1.05 + 0.25 * aro + 0.35 * sul + 0.9 * hal + 0.9 * flu - 0.15 * bulk, 0.02))
    add("d_vol_mw_g_mol", noisy(atoms * (13.5 + 2.0 * pol + 18 * sul + 40 * hal + 5 * flu), 0.02))
    for j in range(10):
        add(f"d_vol_shape_{j:02d}", noisy(atoms ** rng.uniform(0.3, 1.0) * (1 + rng.uniform(0, 1) * bulk), 0.05))

    # polarizability / molar refraction (per unit and per volume)
    polz = atoms * (1.1 + 0.6 * aro + 1.4 * sul + 1.2 * hal - 0.5 * flu + 0.1 * pol)
    add("d_pol_polarizability_a3", noisy(polz, 0.03))
    add("d_pol_molar_refraction", noisy(polz * 2.52, 0.03))
    add("d_pol_polarizability_per_volume", noisy(polz / vdw, 0.03))
    add("d_pol_lorentz_lorenz_phi", noisy(polz * 2.52 / molar_volume, 0.04))
    for j in range(16):
        w = rng.dirichlet(np.full(5, 0.6))
        part = w[0] * aro + w[1] * sul + w[2] * hal - 0.6 * w[3] * flu + w[4] * pol
        add(f"d_pol_contrib_{j:02d}", noisy((0.3 + part) * (atoms if j % 2 else 1.0), 0.06))

    # conjugation
    add("d_conj_aromatic_fraction", np.clip(aro * 0.7 + rng.normal(0, 0.03, rows), 0, 1))
    add("d_conj_sp2_fraction", np.clip(0.1 + 0.6 * aro + 0.2 * pol + rng.normal(0, 0.04, rows), 0, 1))
    add("d_conj_pi_electrons", rng.poisson(atoms * (0.05 + 0.7 * aro + 0.1 * pol)))
    add("d_conj_length", noisy(1.0 + 6.0 * aro**1.5, 0.08))
    add("d_conj_gap_proxy_ev", 8.0 - 3.5 * aro - 1.0 * sul + rng.normal(0, 0.25, rows))
    add("d_conj_lone_pairs_s", rng.poisson(atoms * 0.08 * sul))
    for j in range(14):
        w = rng.dirichlet(np.full(3, 0.8))
        add(f"d_conj_index_{j:02d}", noisy(0.2 + w[0] * aro + w[1] * aro * sul + w[2] * pol, 0.07))

    # topological indices (mostly size and branching)
    add("d_topo_wiener", noisy(atoms**2.6 * 0.3 * (1 - 0.3 * bulk), 0.05))
    add("d_topo_balaban_j", noisy(1.4 + 0.8 * bulk + 0.3 * aro, 0.05))
    add("d_topo_heavy_atoms", atoms.round())
    for j in range(27):
        add(f"d_topo_chi_{j:02d}", noisy(atoms ** rng.uniform(0.5, 1.2) * (1 + rng.normal(0, 0.3) * bulk + rng.normal(0, 0.3) * aro), 0.04))

    # polarity
    add("d_polar_tpsa_a2", noisy(2.0 + atoms * (0.9 * pol + 0.3 * sul), 0.05))
    add("d_polar_dipole_debye", noisy(0.4 + 3.0 * pol + 1.0 * hal + 1.2 * flu, 0.1))
    add("d_polar_max_partial_charge", noisy(0.1 + 0.3 * pol + 0.1 * flu, 0.05))
    add("d_polar_h_donors", rng.poisson(atoms * 0.03 * pol))
    add("d_polar_h_acceptors", rng.poisson(atoms * (0.08 * pol + 0.03 * sul)))
    for j in range(10):
        w = rng.dirichlet(np.full(3, 0.8))
        add(f"d_polar_index_{j:02d}", noisy(0.2 + w[0] * pol + w[1] * flu + w[2] * hal, 0.07))

    # unrelated to optics
    for j in range(14):
        add(f"d_misc_{j:02d}", rng.gamma(2.0, 1.0, rows) if j % 2 else rng.normal(0, 1, rows))

    return names, np.column_stack(cols)


def _significant(x: np.ndarray, digits: int) -> np.ndarray:
    """``x`` rounded to ``digits`` significant digits (zeros stay zero)."""
    mag = np.floor(np.log10(np.where(x == 0, 1.0, np.abs(x))))
    scale = 10.0 ** (digits - 1 - mag)
    return np.round(x * scale) / scale


def generate(seed: int = DEFAULT_SEED, rows: int = DEFAULT_ROWS) -> Pool:
    """The pool for ``seed`` (same seed, same pool, on any machine with the same numpy)."""
    rng = np.random.default_rng(seed)
    z, _family = _latents(rng, rows)
    names, x = _descriptors(rng, z)
    # stored as a descriptor file would hold them: 4 significant digits
    x = _significant(x, 4).astype(np.float32).astype(np.float64)
    nd, vd = optics(z)
    return Pool([f"P{i:05d}" for i in range(rows)], names, x, z, nd, vd)


def write(pool: Pool, pool_file: Path = POOL_FILE, truth_file: Path = TRUTH_FILE) -> None:
    """The descriptors as Parquet (``polymer_id`` + ``d_*``), the truth as CSV (id, n_d, V_d)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {ID_COLUMN: pa.array(pool.ids)}
    for j, name in enumerate(pool.names):
        v = pool.descriptors[:, j]
        cols[name] = pa.array(v.astype(np.int32)) if name.startswith("d_cnt_") or np.all(v == np.round(v)) \
            else pa.array(v.astype(np.float32))
    pq.write_table(pa.table(cols), pool_file, compression="zstd", compression_level=19)
    with open(truth_file, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(f"# hidden truth of {pool_file.name} (seed-generated by make_pool.py): noise-free n_d and V_d\n")
        fh.write(f"{ID_COLUMN},refractive_index,abbe_number\n")
        for i, n, v in zip(pool.ids, pool.refractive_index, pool.abbe_number):
            fh.write(f"{i},{n:.6f},{v:.4f}\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    p.add_argument("--pool", type=Path, default=POOL_FILE, help="Parquet file to write (descriptors)")
    p.add_argument("--truth", type=Path, default=TRUTH_FILE, help="CSV file to write (hidden truth)")
    args = p.parse_args(argv)
    pool = generate(args.seed, args.rows)
    write(pool, args.pool, args.truth)
    print(f"{len(pool.ids)} polymers x {len(pool.names)} descriptors -> {args.pool} "
          f"({args.pool.stat().st_size / 1e6:.1f} MB); truth -> {args.truth}; "
          f"n_d {pool.refractive_index.min():.3f}..{pool.refractive_index.max():.3f}, "
          f"V_d {pool.abbe_number.min():.1f}..{pool.abbe_number.max():.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
