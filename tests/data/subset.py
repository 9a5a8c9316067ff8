"""Rebuild the small public-data subsets under tests/data from the full sets (see README.md).

    python tests/data/subset.py /work/shared/data

Rows are drawn with a fixed seed and copied as text, unchanged; the Fe-Ga-Pd
XRD patterns keep every second 2θ point. ``rows.txt`` in each folder lists
the original sample numbers (0-based), so every value can be traced back.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OER_ROWS = 400
FEGAPD_SAMPLES = 100
XRD_STRIDE = 2


def _pick(n: int, k: int, seed: int) -> list[int]:
    return sorted(np.random.default_rng(seed).choice(n, k, replace=False).tolist())


def oer(src: Path, dst: Path) -> None:
    lines = (src / "data.csv").read_text().splitlines()
    rows = _pick(len(lines), OER_ROWS, seed=0)
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "data.csv").write_text("".join(lines[i] + "\n" for i in rows))
    (dst / "rows.txt").write_text("".join(f"{i}\n" for i in rows))


def fe_ga_pd(src: Path, dst: Path) -> None:
    cmp_lines = (src / "FeGaPd_CMP.txt").read_text().splitlines()
    xrd_lines = (src / "FeGaPd_XRD.txt").read_text().splitlines()
    mag_lines = (src / "FeGaPd_Mag.txt").read_text().splitlines()
    reg_lines = (src / "FeGaPd_DFT_regions.txt").read_text().splitlines()
    n = len(mag_lines)
    assert len(cmp_lines) == len(xrd_lines) == n + 1 and len(reg_lines) == n
    rows = _pick(n, FEGAPD_SAMPLES, seed=0)

    def every_other(line: str) -> str:
        return ",".join(line.split(",")[::XRD_STRIDE])

    dst.mkdir(parents=True, exist_ok=True)
    (dst / "FeGaPd_CMP.txt").write_text("\n".join([cmp_lines[0]] + [cmp_lines[i + 1] for i in rows]) + "\n")
    (dst / "FeGaPd_XRD.txt").write_text("\n".join(every_other(x) for x in [xrd_lines[0]] + [xrd_lines[i + 1] for i in rows]) + "\n")
    (dst / "FeGaPd_Mag.txt").write_text("\n".join(mag_lines[i] for i in rows) + "\n")
    (dst / "FeGaPd_DFT_regions.txt").write_text("\n".join(reg_lines[i] for i in rows) + "\n")
    (dst / "rows.txt").write_text("".join(f"{i}\n" for i in rows))


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "data")
    oer(source / "oer_plate_3496", HERE / "oer_plate_3496")
    fe_ga_pd(source / "fe_ga_pd", HERE / "fe_ga_pd")
