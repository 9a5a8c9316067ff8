"""Typed planner options: one model per planner, defaults equal to the planner's own, no torch to read them."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from labpilot.planners.base import option_problems, planner_class
from labpilot.planners.catalog import planner_modules
from tests.conftest import CAMPAIGNS, REPO

#: (planner, options) as the campaigns, tests and benchmarks pass them.
USED = [
    ("bo", {"acquisition": "qucb", "beta": 9.0}),
    ("bo", {"failed": "exclude"}),
    ("bo", {"refit_every": 4, "num_restarts": 2, "raw_samples": 32, "maxiter": 20}),
    ("bo", {"warm_start": False, "num_restarts": 2, "raw_samples": 16}),
    ("bo", {"pool_shortlist": 10**6}),
    ("mobo", {"ref_point": [-2.0, -1.0]}),
    ("uncertainty", {"stop_cv_error": 10, "stop_min_observations": 5}),
    ("ae-bo", {"latent_dim": 2, "ae_steps": 50, "n_candidates": 500}),
    ("ae-bo", {"elements": {"ni_load": "Ni"}, "acquisition": "ucb"}),
    ("used", {"descriptor": "xrd", "n_candidates": 500, "model": "kernel_ridge"}),
    ("boed", {"descriptor": "xrd", "n_candidates": 2000}),
    ("boed", {"model": "kernel_ridge", "shortlist": 64}),
    ("random", {}),
]


def _campaign_options() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(CAMPAIGNS.glob("*.toml")):
        planner = tomllib.loads(path.read_text()).get("planner", {})
        out.append((planner.get("name", "bo"), planner.get("options", {})))
    return out


@pytest.mark.parametrize("name, options", USED + _campaign_options())
def test_options_in_use_are_accepted(name: str, options: dict) -> None:
    assert option_problems(planner_class(name), options) == []


@pytest.mark.parametrize("name", sorted(planner_modules()))
def test_every_planner_declares_documented_options_with_its_own_defaults(name: str) -> None:
    cls = planner_class(name)
    model = cls.Options
    assert model is not None and model.model_config["extra"] == "forbid"
    assert all(f.description for f in model.model_fields.values())
    defaults = {k: f.default for k, f in model.model_fields.items()}
    if name in ("bo", "mobo", "range", "uncertainty"):
        from labpilot.planners.gp_planner import COMMON_OPTIONS

        expected = {**COMMON_OPTIONS, **cls.extra_options}
        if name == "uncertainty":
            expected["failed"] = "exclude"  # the planner's own default
        assert defaults == expected
    elif name in ("used", "boed"):
        from labpilot.planners.design import BASE_OPTIONS

        assert set(defaults) == BASE_OPTIONS | cls.extra_options
    elif name == "ae-bo":
        from labpilot.planners.ae_bo import _OPTIONS

        assert set(defaults) == _OPTIONS
    else:
        assert defaults == {}


def test_a_misspelt_option_is_named_with_a_suggestion() -> None:
    ((where, reason),) = option_problems(planner_class("bo"), {"aquisition": "qucb"})
    assert where == "aquisition" and "did you mean 'acquisition'" in reason
    ((where, reason),) = option_problems(planner_class("random"), {"acquisition": "qucb"})
    assert reason == "planner 'random' takes no options"


def test_the_option_models_import_no_torch() -> None:
    script = "import sys, labpilot.planners.options; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


@pytest.mark.parametrize("name", sorted(planner_modules()))
def test_each_planner_describes_itself_as_json(name: str) -> None:
    import json

    d = planner_class(name).declaration()
    assert json.loads(json.dumps(d)) == d and d["name"] == name and d["summary"]
    assert d["options"] is not None
