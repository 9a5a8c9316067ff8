"""Reading a campaign's candidate pool (``planners.pool_table``): CSV and Parquet alike, bad files named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labpilot.errors import PoolError
from labpilot.planners.pool_table import read_pool
from labpilot.planners.space import CategoricalParam, ContinuousParam, IntegerParam, SimplexConstraint, Space

SPACE = Space((ContinuousParam("x", 0, 1), CategoricalParam("solvent", ("water", "ethanol"))))
GOOD = "pid,x,solvent,d_size,note,d_charge\nP1,0.5,water,10,a,-1\nP2,0.25,ethanol,30,b,0\nP3,1,water,20,c,1\n"


def _csv(tmp_path: Path, text: str, name: str = "pool.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


@pytest.mark.parametrize("bom", [False, True])
def test_csv_pool_rows_ids_and_scaled_float32_descriptors(tmp_path, bom):
    t = read_pool(_csv(tmp_path, GOOD, bom=bom), "pid", SPACE, ["d_*"])
    assert len(t) == 3 and t.feature_names == ("d_size", "d_charge")
    np.testing.assert_array_equal(t.rows, [[0.5, 0], [0.25, 1], [1, 0]])
    assert t.features.dtype == np.float32
    np.testing.assert_allclose(t.features, [[0, 0], [1, 0.5], [0.5, 1]])
    assert t.point(1) == {"pid": "P2", "x": 0.25, "solvent": "ethanol"}
    assert t.indices(["P3", "nope", "P1"]).tolist() == [2, -1, 0]
    assert t.contains({"pid": "P2", "x": 0.25, "solvent": "ethanol"}) == []
    assert "not row 'P2'" in t.contains({"pid": "P2", "x": 0.3, "solvent": "ethanol"})[0]
    assert "not a row" in t.contains({"pid": "P9"})[0]


def test_parquet_reads_as_the_csv_does_and_integer_ids_stay_integers(tmp_path):
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"pid": [7, 8, 9], "x": [0.5, 0.25, 1.0], "solvent": ["water", "ethanol", "water"],
                             "d_size": [10, 30, 20], "d_charge": [-1.0, 0.0, 1.0]}), path)
    t = read_pool(path, "pid", SPACE, ["d_*"])
    csv_t = read_pool(_csv(tmp_path, GOOD), "pid", SPACE, ["d_*"])
    np.testing.assert_array_equal(t.features, csv_t.features)
    np.testing.assert_array_equal(t.rows, csv_t.rows)
    assert t.point(0) == {"pid": 7, "x": 0.5, "solvent": "water"}
    assert t.indices(["8", 9]).tolist() == [1, 2]  # an id typed as text still finds its integer row


def test_ids_that_turn_to_text_after_the_first_block_are_read_as_text(tmp_path):
    rows = "".join(f"{i},0.5,water,1\n" for i in range(100_000))
    t = read_pool(_csv(tmp_path, "pid,x,solvent,d_1\n" + rows + "X1,0.5,water,2\n"), "pid", SPACE, ["d_*"])
    assert len(t) == 100_001 and t.point(100_000)["pid"] == "X1" and t.point(3)["pid"] == "3"


def test_a_pool_without_parameters_carries_only_ids_and_descriptors(tmp_path):
    t = read_pool(_csv(tmp_path, GOOD), "pid", Space(()), ["d_size"])
    assert t.rows.shape == (3, 0) and t.point(2) == {"pid": "P3"} and t.feature_names == ("d_size",)


@pytest.mark.parametrize(
    "text, id_column, patterns, field, message",
    [
        (GOOD, "polymer", ["d_*"], "space.id_column", "'polymer' is not a column"),
        (GOOD.replace("P2", "P1"), "pid", ["d_*"], "space.id_column", "'P1' (2 rows)"),
        (GOOD.replace("P2,", ","), "pid", ["d_*"], "space.id_column", "row 2, column 'pid': the id is empty"),
        (GOOD, "pid", ["d_*", "e_*"], "space.descriptors[1]", "'e_*' matches no column"),
        (GOOD.replace(",30,", ",abc,"), "pid", ["d_*"], "space.descriptors", "row 2, column 'd_size': 'abc' is not a number"),
        (GOOD.replace(",30,", ",inf,"), "pid", ["d_*"], "space.descriptors", "row 2, column 'd_size': inf is not finite"),
        (GOOD.replace(",30,", ",,"), "pid", ["d_*"], "space.descriptors", "row 2, column 'd_size': empty or NaN"),
        (GOOD.replace(",30,", ",nan,"), "pid", ["d_*"], "space.descriptors", "row 2, column 'd_size': empty or NaN"),
        (GOOD.replace("0.25", "1.5"), "pid", ["d_*"], "parameters[0](x)", "row 2, column 'x': 1.5 is above the upper bound 1"),
        (GOOD.replace("0.25", "lots"), "pid", ["d_*"], "parameters[0](x)", "row 2, column 'x': 'lots' is not a number"),
        (GOOD.replace("ethanol", "acetone"), "pid", ["d_*"], "parameters[1](solvent)", "'acetone' is not one of"),
        (GOOD.replace("solvent", "solv"), "pid", ["d_*"], "parameters[1](solvent)", "no column 'solvent'"),
        ("pid,x,solvent,d_1\n", "pid", ["d_*"], "space.pool", "no data rows"),
    ],
)
def test_a_bad_pool_is_refused_naming_the_field_row_and_column(tmp_path, text, id_column, patterns, field, message):
    with pytest.raises(PoolError) as err:
        read_pool(_csv(tmp_path, text), id_column, SPACE, patterns)
    assert err.value.field == field and message in err.value.reason, (err.value.field, err.value.reason)
    assert "pool.csv" in err.value.reason or field == "space.descriptors[1]" or "'polymer'" in message


def test_a_missing_file_and_a_non_numeric_parquet_descriptor_are_named(tmp_path):
    with pytest.raises(PoolError, match="no such file") as err:
        read_pool(tmp_path / "nope.csv", "pid", SPACE)
    assert err.value.field == "space.pool"
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"pid": ["a", "b"], "x": [0.1, 0.2], "solvent": ["water", "water"], "d_1": ["1.5", "big"]}), path)
    with pytest.raises(PoolError, match=r"row 2, column 'd_1': 'big' is not a number"):
        read_pool(path, "pid", SPACE, ["d_*"])


def test_relative_paths_resolve_against_the_base_folder(tmp_path):
    _csv(tmp_path, GOOD)
    assert len(read_pool("pool.csv", "pid", SPACE, ["d_*"], base=tmp_path)) == 3


def test_integer_bounds_and_simplexes_are_checked_like_the_parameters_say(tmp_path):
    space = Space((ContinuousParam("Fe", 0, 1), ContinuousParam("Co", 0, 1), IntegerParam("n", 1, 3)),
                  (SimplexConstraint(("Fe", "Co")),))
    with pytest.raises(PoolError, match=r"row 2: Fe\+Co sums to 0.9") as err:
        read_pool(_csv(tmp_path, "id,Fe,Co,n\na,0.5,0.5,1\nb,0.5,0.4,2\n"), "id", space)
    assert err.value.field == "constraints[0]"
    with pytest.raises(PoolError, match="2.5 is not an integer"):
        read_pool(_csv(tmp_path, "id,Fe,Co,n\na,0.5,0.5,1\nb,0.6,0.4,2.5\n"), "id", space)


def test_the_elements_featurizer_and_a_plugin_featurizer_add_descriptor_columns(tmp_path):
    space = Space((ContinuousParam("Fe", 0, 1), ContinuousParam("Co", 0, 1)))
    path = _csv(tmp_path, "id,Fe,Co,d_1\na,1,0,5\nb,0.5,0.5,6\nc,0,1,7\n")
    t = read_pool(path, "id", space, ["d_*"], featurizer="elements")
    assert t.feature_names[0] == "d_1" and "mean_electronegativity" in t.feature_names
    assert t.features.shape == (3, 1 + len(t.feature_names) - 1) and t.features.dtype == np.float32
    (tmp_path / "feat.py").write_text("import numpy as np\n"
                                      "def ratio(values, names):\n    return values[:, :1] - values[:, 1:2]\n")
    t = read_pool(path, "id", space, featurizer="feat.py:ratio", base=tmp_path)
    np.testing.assert_allclose(t.features[:, 0], [1, 0.5, 0])
    assert t.feature_names == ("ratio_0",)
    with pytest.raises(PoolError, match="unknown featurizer 'magpie'") as err:
        read_pool(path, "id", space, featurizer="magpie")
    assert err.value.field == "space.featurizer"
    with pytest.raises(PoolError, match="cannot be loaded") as err:
        read_pool(path, "id", space, featurizer="feat.py:nothing", base=tmp_path)
    assert err.value.field == "space.featurizer"


def test_a_csv_whose_later_rows_are_shorter_than_its_first_block_is_read_whole_in_one_pass(tmp_path, monkeypatch):
    """A CSV is read once: its rows are estimated from the first block, and the arrays grow past the estimate."""
    from labpilot.planners import pool_table
    from labpilot.planners.pool_table import read_descriptors

    monkeypatch.setattr(pool_table, "CSV_BLOCK_BYTES", 4096)
    long_rows = [f"L{i},0.5,water,{i},{'n' * 200},{-i}" for i in range(40)]  # ~20 rows per 4 KiB block
    short_rows = [f"S{i},0.25,ethanol,{i},,{i}" for i in range(3000)]  # ~20 bytes: 10x more rows than estimated
    path = _csv(tmp_path, "pid,x,solvent,d_size,note,d_charge\n" + "\n".join(long_rows + short_rows) + "\n",
                name="grows.csv")
    assert path.stat().st_size > 12 * 4096
    t = read_pool(path, "pid", SPACE, ["d_*"])
    assert len(t) == 3040 and t.point(3039) == {"pid": "S2999", "x": 0.25, "solvent": "ethanol"}
    raw = t.features * t.feature_span.astype(np.float32) + t.feature_low.astype(np.float32)
    np.testing.assert_allclose(raw[[0, 39, 40, 3039]], [[0, 0], [39, -39], [0, 0], [2999, 2999]], atol=1e-3)
    names, arr = read_descriptors(path, ["d_*"])
    assert names == ["d_size", "d_charge"] and arr.shape == (3040, 2) and arr[3039].tolist() == [2999, 2999]
