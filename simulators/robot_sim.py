"""Simulated polymer synthesis robot on ZeroMQ (``python -m labpilot.simulators robot --zmq ENDPOINT``).

One arm, one heater. A sample is made in five steps, each a physical action
with its own command id (the driver derives them as ``<id>/load``,
``<id>/dispense`` ...), replied to at once and finished on the virtual clock:

``load_substrate`` ``{command_id}`` (60 s)
    Takes a fresh vial; result ``{sample_id}`` (ids ``PP-00001``... from the
    tray's counter, never reused).
``dispense`` ``{command_id, sample_id, molecular_weight, stereoregularity, volume_ml}`` (120 s)
    Dispenses the polymer grade (kg/mol, mmmm fraction); ``volume_ml`` ≤ 50.
``mix`` ``{command_id, sample_id}`` (300 s)
``anneal`` ``{command_id, sample_id, cooling_temperature, melt_temp_c?}`` (900 s)
    Melts at ``melt_temp_c`` (default 230 °C, at most 300) and cools at
    ``cooling_temperature`` °C: this is when the world fixes the sample's
    hidden structure.
``transfer`` ``{command_id, sample_id}`` (60 s)
    Puts the sample in the tray (world ``polymer``); result
    ``{sample_id, info}``.

Steps must come in order for a sample (error 220 otherwise), one at a time
(error 210 while the arm is busy). Every step writes one ledger line. Final
outcomes also persist in the tray, so a restarted robot still suppresses
duplicates. ``safe`` switches the heater off, homes the arm and aborts a
running step.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from labpilot.errors import SimulatedFault
from labpilot.protocols.envelope import ERR_OUT_OF_RANGE, ERR_UNKNOWN_SAMPLE
from labpilot.simulators.zmq_instrument import ZMQ_TRANSPORTS, ZmqInstrument, serve_zmq_instrument

#: Transports this simulator serves (read by ``python -m labpilot.simulators``).
TRANSPORTS = ZMQ_TRANSPORTS

ERR_SEQUENCE = 220

#: Step → (nominal virtual seconds, the stage a sample must be in before it).
STEPS: dict[str, tuple[float, str | None]] = {
    "load_substrate": (60.0, None),
    "dispense": (120.0, "load_substrate"),
    "mix": (300.0, "dispense"),
    "anneal": (900.0, "mix"),
    "transfer": (60.0, "anneal"),
}
MAX_VOLUME_ML = 50.0
MAX_MELT_TEMP_C = 300.0
DEFAULT_MELT_TEMP_C = 230.0
SAMPLE_PREFIX = "PP-"


class RobotSim(ZmqInstrument):
    """A synthesis robot whose samples' structure comes from the polymer world."""

    kind = "robot"
    model = "ROBOT-SIM"
    uses_tray_for_outcomes = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._world: Any = None
        self.samples: dict[str, dict[str, Any]] = {}
        self.heater_c = 25.0
        self.arm = "home"

    @property
    def world(self) -> Any:
        """The polymer world (built on first use)."""
        if self._world is None:
            from labpilot.simulators.worlds.polymer import PolymerWorld

            self._world = PolymerWorld(self.world_seed)
        return self._world

    def state(self) -> dict[str, Any]:
        return {"heater_c": self.heater_c, "arm": self.arm, "samples_in_progress": sorted(
            sid for sid, s in self.samples.items() if s["stage"] != "transfer")}

    def make_safe(self) -> None:
        self.heater_c = 25.0
        self.arm = "home"

    # ------------------------------------------------------------- steps
    def _sample(self, args: dict[str, Any], step: str) -> tuple[str, dict[str, Any]]:
        sample_id = self.arg_str(args, "sample_id")
        sample = self.samples.get(sample_id)
        if sample is None:
            raise SimulatedFault(ERR_UNKNOWN_SAMPLE, f"no substrate {sample_id!r} loaded on the robot")
        needed = STEPS[step][1]
        if sample["stage"] != needed:
            raise SimulatedFault(
                ERR_SEQUENCE, f"{step} of {sample_id!r} needs it after {needed}, but its last step was {sample['stage']}"
            )
        return sample_id, sample

    def _act(self, step: str, command_id: str, sample_id: str | None, perform: Callable[[], dict[str, Any]],
             **details: Any) -> dict[str, Any]:
        self.busy_check()

        def physical() -> dict[str, Any]:
            result = perform()
            sid = result.get("sample_id", sample_id)
            self.ledger.record(self.kind, step, command_id, sid, **details)
            return result

        return self.start_action(command_id, STEPS[step][0], physical)

    def cmd_load_substrate(self, args: dict[str, Any]) -> dict[str, Any]:
        command_id = self.arg_str(args, "command_id")
        if (replayed := self.replay(command_id)) is not None:
            return replayed

        def perform() -> dict[str, Any]:
            sample_id = self.tray.new_sample_id(SAMPLE_PREFIX)
            self.samples[sample_id] = {"stage": "load_substrate", "params": {}}
            self.arm = "vial"
            return {"sample_id": sample_id}

        return self._act("load_substrate", command_id, None, perform)

    def cmd_dispense(self, args: dict[str, Any]) -> dict[str, Any]:
        command_id = self.arg_str(args, "command_id")
        if (replayed := self.replay(command_id)) is not None:
            return replayed
        sample_id, sample = self._sample(args, "dispense")
        mw = self.arg_float(args, "molecular_weight", 1e-6, 1e9)
        stereo = self.arg_float(args, "stereoregularity", 0.0, 1.0)
        volume = self.arg_float(args, "volume_ml", 1e-3, MAX_VOLUME_ML)

        def perform() -> dict[str, Any]:
            sample["stage"] = "dispense"
            sample["params"].update(molecular_weight=mw, stereoregularity=stereo, volume_ml=volume)
            return {"sample_id": sample_id}

        return self._act("dispense", command_id, sample_id, perform,
                         molecular_weight=mw, stereoregularity=stereo, volume_ml=volume)

    def cmd_mix(self, args: dict[str, Any]) -> dict[str, Any]:
        command_id = self.arg_str(args, "command_id")
        if (replayed := self.replay(command_id)) is not None:
            return replayed
        sample_id, sample = self._sample(args, "mix")

        def perform() -> dict[str, Any]:
            sample["stage"] = "mix"
            return {"sample_id": sample_id}

        return self._act("mix", command_id, sample_id, perform)

    def cmd_anneal(self, args: dict[str, Any]) -> dict[str, Any]:
        command_id = self.arg_str(args, "command_id")
        if (replayed := self.replay(command_id)) is not None:
            return replayed
        sample_id, sample = self._sample(args, "anneal")
        melt = self.arg_float(args, "melt_temp_c", 0.0, MAX_MELT_TEMP_C, DEFAULT_MELT_TEMP_C)
        cooling = self.arg_float(args, "cooling_temperature", -50.0, MAX_MELT_TEMP_C)
        p = sample["params"]
        try:
            truth = self.world.synthesize(p["molecular_weight"], p["stereoregularity"], cooling, rng=self.rng)
        except ValueError as exc:
            raise SimulatedFault(ERR_OUT_OF_RANGE, f"anneal of {sample_id!r}: {exc}") from None

        def perform() -> dict[str, Any]:
            sample["stage"] = "anneal"
            sample["params"].update(cooling_temperature=cooling, melt_temp_c=melt)
            sample["truth"] = truth
            self.heater_c = melt
            return {"sample_id": sample_id}

        return self._act("anneal", command_id, sample_id, perform, melt_temp_c=melt, cooling_temperature=cooling)

    def cmd_transfer(self, args: dict[str, Any]) -> dict[str, Any]:
        command_id = self.arg_str(args, "command_id")
        if (replayed := self.replay(command_id)) is not None:
            return replayed
        sample_id, sample = self._sample(args, "transfer")

        def perform() -> dict[str, Any]:
            self.tray.put(sample_id, "polymer", sample["truth"])
            sample["stage"] = "transfer"
            self.heater_c = 25.0
            self.arm = "home"
            info = {k: sample["params"][k] for k in ("molecular_weight", "stereoregularity", "cooling_temperature")}
            return {"sample_id": sample_id, "info": {**info, "world": "polymer"}}

        return self._act("transfer", command_id, sample_id, perform)


def serve(args: argparse.Namespace) -> None:
    """Entry point of ``python -m labpilot.simulators robot``: print the endpoint, then serve."""
    serve_zmq_instrument(RobotSim, args)
