"""Issue 10, Deliver 2: the runner checked by a model (bounded here; `benchmarks/soak_runner.py` runs it long).

Three examples: Hypothesis's first is the simplest (waits only); the others are drawn at random.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.agent.loop.runner_model import RunnerModel

pytestmark = pytest.mark.slow

TestRunnerModel = RunnerModel.TestCase
TestRunnerModel.settings = settings(max_examples=3, stateful_step_count=6, deadline=None,
                                    suppress_health_check=list(HealthCheck))
