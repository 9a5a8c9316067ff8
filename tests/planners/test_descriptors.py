"""Element table and composition descriptors: values a model relies on, and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

from labpilot.planners.descriptors import STATISTICS, composition_descriptors, descriptor_names
from labpilot.planners.elements import PROPERTIES, SYMBOLS, element, element_mapping, property_matrix, symbol_for_name

REQUIRED = "Fe Co Ni Mn Ce La Ga Pd Ir Pt Cu Al Ti Cr V Zn Mo W Nb Zr".split()


def test_table_covers_the_issue_elements_with_plausible_values():
    assert set(REQUIRED) <= set(SYMBOLS)
    fe = element("Fe")
    assert fe["atomic_number"] == 26 and abs(fe["atomic_mass"] - 55.845) < 0.01
    assert abs(fe["electronegativity"] - 1.83) < 1e-9
    # atomic numbers are unique; mass rises with them except for the real Co/Ni inversion
    table = property_matrix(SYMBOLS)
    z = table[:, PROPERTIES.index("atomic_number")]
    assert len(set(z)) == len(z)
    order = np.argsort(z)
    drops = np.nonzero(np.diff(table[order, PROPERTIES.index("atomic_mass")]) <= 0)[0]
    assert [(SYMBOLS[order[i]], SYMBOLS[order[i + 1]]) for i in drops] == [("Co", "Ni")]
    assert np.isfinite(table).all() and (table > 0).all()


def test_unknown_element_is_refused_by_name():
    with pytest.raises(KeyError, match="Xx"):
        element("Xx")
    with pytest.raises(KeyError, match="Unobtainium"):
        property_matrix(["Fe"], ["Unobtainium"])


@pytest.mark.parametrize(
    "name, symbol",
    [("Fe", "Fe"), ("fe", "Fe"), ("ni_load", "Ni"), ("Co-frac", "Co"), ("W", "W"), ("temperature", None), ("x", None)],
)
def test_parameter_names_map_to_elements(name, symbol):
    assert symbol_for_name(name) == symbol


def test_explicit_element_mapping_must_name_parameters():
    assert element_mapping(["a", "b"], {"a": "fe", "b": "Pt"}) == {"a": "Fe", "b": "Pt"}
    with pytest.raises(KeyError, match="not parameters"):
        element_mapping(["a"], {"zz": "Fe"})


def test_pure_element_descriptors_are_its_properties():
    d = composition_descriptors(np.array([[0.0, 1.0]]), ["Fe", "Ni"])
    ni = property_matrix(["Ni"])[0]
    p = len(PROPERTIES)
    assert d.shape == (1, len(STATISTICS) * p) == (1, len(descriptor_names()))
    np.testing.assert_allclose(d[0, :p], ni)  # mean
    np.testing.assert_allclose(d[0, p : 2 * p], 0.0, atol=1e-9)  # spread
    np.testing.assert_allclose(d[0, 2 * p : 3 * p], ni)  # min over present elements: Fe is absent
    np.testing.assert_allclose(d[0, 3 * p :], ni)


def test_binary_descriptors_by_hand_and_percentages_normalize():
    fe, co = property_matrix(["Fe", "Co"])
    d = composition_descriptors(np.array([[75.0, 25.0]]), ["Fe", "Co"])[0]
    p = len(PROPERTIES)
    mean = 0.75 * fe + 0.25 * co
    np.testing.assert_allclose(d[:p], mean)
    np.testing.assert_allclose(d[p : 2 * p], np.sqrt(0.75 * (fe - mean) ** 2 + 0.25 * (co - mean) ** 2))
    np.testing.assert_allclose(d[2 * p : 3 * p], np.minimum(fe, co))
    np.testing.assert_allclose(d[3 * p :], np.maximum(fe, co))


@pytest.mark.parametrize(
    "rows, message",
    [
        ([[0.5, 0.5], [0.2, -0.1]], "row 1 has a negative"),
        ([[0.0, 0.0]], "row 0 has no element"),
        ([[np.nan, 1.0]], "row 0 has a non-finite"),
        ([[0.3, 0.3, 0.4]], "shape"),
    ],
)
def test_bad_compositions_are_refused_naming_the_row(rows, message):
    with pytest.raises(ValueError, match=message):
        composition_descriptors(np.array(rows), ["Fe", "Co"])


def test_oer_plate_descriptors(oer_plate):
    data = oer_plate
    d = composition_descriptors(data[:, :6], ["Ni", "Fe", "Co", "Mn", "Ce", "La"])
    assert d.shape == (len(data), 36) and np.isfinite(d).all()
    # compositions differ, and so do their descriptors
    assert len(np.unique(d.round(9), axis=0)) > 0.95 * len(np.unique(data[:, :6], axis=0))
