"""A small campaign with a manual measurer, for the manual-step tests (real store, real CLI)."""

from __future__ import annotations

from labpilot.testing.campaigns import InstrumentEntry, film_campaign
from tests.conftest import REPO

FILM = REPO / "campaigns" / "sim" / "film_model.py"


def manual_campaign(dry_run: str = "wait", budget: int = 2, manual_synthesizer: bool = False) -> str:
    """A ``python`` synthesizer (the film model) and a ``manual`` measurer of thickness and defects.

    ``manual_synthesizer``: the manual step makes the sample instead, and the film model measures its
    grain size (the objective).
    """
    hand = {"instructions": "Measure sample {sample_id} on the profilometer", "dry_run": dry_run,
            "dry_run_values": {"thickness": [100.0, 200.0], "defects": [0.0, 3.0]}}
    if manual_synthesizer:
        film = InstrumentEntry("film", "python", {"role": "measure", "scalars": {"grain_nm": "nm"},
                                                  "function": f"{FILM}:deposit"})
        return film_campaign(FILM, [film], name="manual-steps", seed=1, initial_design=budget, budget=budget,
                             objectives={"grain_nm": "maximize"},
                             synthesizer=InstrumentEntry("hand", "manual", {"role": "synthesize", **hand}))
    measurer = InstrumentEntry("hand", "manual", {"role": "measure",
                                                  "scalars": {"thickness": "nm", "defects": "count"}, **hand})
    return film_campaign(FILM, [measurer], name="manual-steps", seed=1, initial_design=budget, budget=budget,
                         objectives={"thickness": "maximize"})
