"""Composition -> element-property descriptor vectors, vectorized over pools.

A composition (fractions of a few elements) is described, for every property
of ``planners.elements``, by four statistics over the elements present (those
with a fraction above zero): the fraction-weighted mean, the fraction-weighted
spread (standard deviation), the minimum and the maximum. This is the usual
"Magpie-style" featurization; it lets a model compare compositions made of
different elements and gives ``ae-bo`` a high-dimensional vector to compress.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from labpilot.planners.elements import PROPERTIES, canonical_symbol, property_matrix

#: The statistics computed per property, in output order.
STATISTICS: tuple[str, ...] = ("mean", "spread", "min", "max")


def descriptor_names(properties: Sequence[str] | None = None) -> list[str]:
    """Names of the descriptor columns, e.g. ``mean_electronegativity``."""
    props = tuple(properties) if properties is not None else PROPERTIES
    return [f"{stat}_{prop}" for stat in STATISTICS for prop in props]


def composition_descriptors(
    fractions: np.ndarray,
    symbols: Sequence[str],
    properties: Sequence[str] | None = None,
) -> np.ndarray:
    """Return the ``(n, 4 * n_properties)`` descriptors of ``n`` compositions.

    ``fractions`` is ``(n, len(symbols))``; each row is normalized to sum to 1
    (so percentages and loadings work too). Negative fractions, rows summing to
    zero and non-finite values are refused with the offending row named.
    """
    f = np.asarray(fractions, dtype=float)
    if f.ndim == 1:
        f = f[None, :]
    if f.ndim != 2 or f.shape[1] != len(symbols):
        raise ValueError(
            f"fractions must have shape (n, {len(symbols)}) for elements {list(symbols)}, got {f.shape}"
        )
    symbols = [canonical_symbol(s) for s in symbols]
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"each element may appear once, got {symbols}")
    bad = ~np.isfinite(f).all(axis=1)
    if bad.any():
        raise ValueError(f"composition row {int(np.argmax(bad))} has a non-finite fraction")
    neg = (f < 0).any(axis=1)
    if neg.any():
        i = int(np.argmax(neg))
        raise ValueError(f"composition row {i} has a negative fraction: {f[i].tolist()}")
    totals = f.sum(axis=1)
    zero = totals <= 0
    if zero.any():
        raise ValueError(f"composition row {int(np.argmax(zero))} has no element (fractions sum to 0)")
    w = f / totals[:, None]
    table = property_matrix(symbols, properties)  # (m, P)
    mean = w @ table
    second = w @ (table**2)
    spread = np.sqrt(np.clip(second - mean**2, 0.0, None))
    lo = np.full_like(mean, np.inf)
    hi = np.full_like(mean, -np.inf)
    for j in range(table.shape[0]):
        present = (w[:, j] > 0)[:, None]
        lo = np.where(present, np.minimum(lo, table[j]), lo)
        hi = np.where(present, np.maximum(hi, table[j]), hi)
    return np.hstack([mean, spread, lo, hi])
