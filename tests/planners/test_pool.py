"""Loading candidate pools from CSV: what a lab's spreadsheet looks like, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labpilot.errors import TableError
from labpilot.planners.pool import candidate_rows, load_pool, read_table, with_pool
from labpilot.planners.space import CategoricalParam, ContinuousParam, IntegerParam, SimplexConstraint, Space

SPACE = Space(
    (ContinuousParam("fe", 0, 1), ContinuousParam("co", 0, 1), IntegerParam("passes", 1, 5), CategoricalParam("gas", ("Ar", "N2"))),
    (SimplexConstraint(("fe", "co")),),
)


def _write(tmp_path: Path, text: str, name: str = "pool.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


@pytest.mark.parametrize("bom", [False, True])
def test_loads_rows_in_parameter_order_with_or_without_bom(tmp_path, bom):
    path = _write(tmp_path, "gas,note,co,fe,passes\nN2,x,0.25,0.75,3\n\nAr,y,1,0,1\n", bom=bom)
    pool = load_pool(path, SPACE)
    np.testing.assert_array_equal(pool, [[0.75, 0.25, 3, 1], [0, 1, 1, 0]])
    space = with_pool(SPACE, path)
    assert space.to_point(space.pool[0]) == {"fe": 0.75, "co": 0.25, "passes": 3, "gas": "N2"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("fe,co,passes,gas\n", "no data rows"),
        ("fe,co,gas\n0.5,0.5,Ar\n", r"missing columns \['passes'\]"),
        ("fe,co,passes,gas\n0.5,0.5,1,Ar\n0.5,abc,1,Ar\n", r"line 3, column 'co': 'abc' is not a number"),
        ("fe,co,passes,gas\n0.5,0.5,1,He\n", r"line 2, column 'gas': 'He' is not one of"),
        ("fe,co,passes,gas\n0.5,0.5,9,Ar\n", r"line 2, column 'passes': 9 is above the upper bound 5"),
        ("fe,co,passes,gas\n0.5,0.5,1.5,Ar\n", r"column 'passes': 1.5 is not an integer"),
        ("fe,co,passes,gas\n0.5,0.4,1,Ar\n", r"line 2: fe\+co sums to 0.9"),
        ("fe,co,passes,gas\n0.5,0.5,1\n", r"line 2: 3 cells"),
        ("fe,fe,passes,gas\n0.5,0.5,1,Ar\n", "duplicate column names"),
    ],
)
def test_bad_files_name_the_line_and_column(tmp_path, text, message):
    with pytest.raises(TableError, match=message):
        load_pool(_write(tmp_path, text), SPACE)


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(TableError, match="no such file"):
        load_pool(tmp_path / "nope.csv", SPACE)
    with pytest.raises(TableError, match="not a UTF-8"):
        load_pool(_bytes(tmp_path, b"fe,co\n\xff\xfe,1\n"), SPACE)


def _bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "latin.csv"
    path.write_bytes(data)
    return path


def test_headerless_table_with_given_column_names(tmp_path):
    path = _write(tmp_path, "0.1,0.9\n0.2,0.8\n")
    assert read_table(path, header=False).header == ["0", "1"]
    t = read_table(path, header=False, columns=["a", "b"])
    assert t.header == ["a", "b"] and t.lines == [1, 2]
    with pytest.raises(TableError, match="3 column names"):
        read_table(path, header=False, columns=["a", "b", "c"])


def test_candidate_rows_are_the_pool_or_seeded_constraint_satisfying_samples():
    pool = np.array([[0.5, 0.5, 1, 0]])
    np.testing.assert_array_equal(candidate_rows(Space(SPACE.params, SPACE.simplex, pool), 10, 0), pool)
    a = candidate_rows(SPACE, 200, seed=1)
    np.testing.assert_array_equal(a, candidate_rows(SPACE, 200, seed=1))
    assert a.shape == (200, 4)
    assert all(not SPACE.contains(SPACE.to_point(r)) for r in a)


def test_oer_plate_loads_as_a_pool(public_data, oer_plate):
    names = ["ni_load", "fe_load", "co_load", "mn_load", "ce_load", "la_load"]
    space = Space(tuple(ContinuousParam(n, 0, 1) for n in names) + (ContinuousParam("overpotential", 0, 2),),)
    cols = names + ["overpotential"]
    pool = load_pool(public_data / "oer_plate_3496" / "data.csv", space, header=False, columns=cols)
    assert pool.shape == (400, 7)
    np.testing.assert_allclose(pool, oer_plate)
    np.testing.assert_allclose(pool[:, :6].sum(axis=1), 1.0, atol=1e-6)
