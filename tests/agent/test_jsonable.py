"""JSON clean-up of instrument results."""

import json

import numpy as np

from labpilot.agent.jsonable import to_jsonable


def test_numpy_values_become_plain_numbers_and_lists_and_the_rest_strings() -> None:
    out = to_jsonable({"t": np.float32(1.5), "a": np.arange(3), "nested": [{"n": np.int64(2)}], "p": object})
    assert out["t"] == 1.5 and out["a"] == [0, 1, 2] and out["nested"] == [{"n": 2}]
    assert isinstance(out["p"], str)
    assert json.loads(json.dumps(out)) == out
