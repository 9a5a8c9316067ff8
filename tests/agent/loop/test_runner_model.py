"""Issue 10, Deliver 2: the runner checked by a model (bounded here; `benchmarks/soak_runner.py` runs it long)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.agent.loop.runner_model import RunnerModel

pytestmark = pytest.mark.slow

TestRunnerModel = RunnerModel.TestCase
TestRunnerModel.settings = settings(max_examples=2, stateful_step_count=5, deadline=None,
                                    suppress_health_check=list(HealthCheck))
