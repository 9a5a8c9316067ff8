"""A small campaign with a manual measurer, for the manual-step tests (real store, real CLI)."""

from __future__ import annotations

from tests.conftest import REPO

FILM = REPO / "campaigns" / "sim" / "film_model.py"


def manual_campaign(dry_run: str = "wait", budget: int = 2) -> str:
    """A ``python`` synthesizer (the film model) and a ``manual`` measurer of thickness and defects."""
    return f"""
name = "manual-steps"
seed = 1
initial_design = {budget}
[budget]
max_experiments = {budget}
[planner]
name = "random"
[[objectives]]
name = "thickness"
[[parameters]]
name = "power_w"
type = "continuous"
low = 50.0
high = 300.0
[[parameters]]
name = "pressure_pa"
type = "continuous"
low = 0.1
high = 2.0
[[parameters]]
name = "temperature_c"
type = "continuous"
low = 20.0
high = 500.0
[[instruments]]
name = "film"
kind = "python"
address = "local"
options = {{ role = "synthesize", function = "{FILM}:deposit" }}
[[instruments]]
name = "hand"
kind = "manual"
address = "local"
[instruments.options]
role = "measure"
scalars = {{ thickness = "nm", defects = "count" }}
instructions = "Measure sample {{sample_id}} on the profilometer"
dry_run = "{dry_run}"
dry_run_values = {{ thickness = [100.0, 200.0], defects = [0.0, 3.0] }}
"""
