"""Polymer synthesis robot driver (ZeroMQ): make one sample in five steps.

``synthesize({"molecular_weight", "stereoregularity", "cooling_temperature"},
command_id)`` runs ``load_substrate → dispense → mix → anneal → transfer``.
Each step is a non-idempotent command with its own id derived from the
campaign's: ``<command_id>/load``, ``/dispense``, ``/mix``, ``/anneal``,
``/transfer``. So calling ``synthesize`` again with the same command id (after
a lost reply, or after the agent restarted mid-sequence) resumes where the
sequence stopped: the robot answers the steps it already did with their first
outcome and does none of them twice.

Options: ``dispense_ml`` (default 5.0), ``melt_temp_c`` (default 230).
Limits checked before anything is sent: ``max_dispense_ml``,
``max_anneal_temp_c`` (the melt and the cooling temperature),
``max_molecular_weight``.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar, Mapping

from labpilot.errors import ProtocolError
from labpilot.drivers.options import DriverOptions, Number, PositiveNumber
from labpilot.drivers.params import Accepted, Accepts, LimitedOption
from labpilot.drivers.zmq_instrument import ZmqInstrumentDriver, ZmqOptions
from labpilot.protocols.capabilities import CommandOutcome, Sample

log = logging.getLogger("labpilot.drivers")

PARAMS = ("molecular_weight", "stereoregularity", "cooling_temperature")
STEPS = ("load", "dispense", "mix", "anneal", "transfer")
DEFAULT_DISPENSE_ML = 5.0
DEFAULT_MELT_TEMP_C = 230.0


def step_id(command_id: str, step: str) -> str:
    """The command id of one step of a synthesis."""
    return f"{command_id}/{step}"


class RobotOptions(ZmqOptions):
    """The fixed process settings of every synthesis."""

    dispense_ml: PositiveNumber = DEFAULT_DISPENSE_ML
    """Resin volume dispensed per sample, ml (capped by the ``max_dispense_ml`` limit)."""
    melt_temp_c: Number = DEFAULT_MELT_TEMP_C
    """Melt temperature before cooling, °C (capped by the ``max_anneal_temp_c`` limit)."""


class RobotDriver(ZmqInstrumentDriver):
    """A synthesis robot on a ZeroMQ endpoint (``Synthesizer``)."""

    kind = "robot"
    role = "synthesize"
    known_limits = ("max_dispense_ml", "max_anneal_temp_c", "max_molecular_weight")
    Options: ClassVar[type[DriverOptions]] = RobotOptions
    settings: RobotOptions

    @classmethod
    def accepts(cls, settings: DriverOptions, limits: Mapping[str, float]) -> Accepts:
        """Exactly the three recipe parameters, each within what ``check_params`` enforces."""
        return Accepts((
            Accepted("molecular_weight", "kg/mol", low=0.0, low_open=True, high=limits.get("max_molecular_weight"),
                     required=True, doc="weight-average molecular weight of the resin"),
            Accepted("stereoregularity", "1", low=0.0, high=1.0, required=True, doc="mmmm pentad fraction"),
            Accepted("cooling_temperature", "°C", high=limits.get("max_anneal_temp_c"), required=True,
                     doc="temperature the melt is cooled to"),
        ))

    @classmethod
    def limited_options(cls, settings: DriverOptions) -> list[LimitedOption]:
        assert isinstance(settings, RobotOptions)
        return [
            LimitedOption("max_dispense_ml", settings.dispense_ml, "dispense volume (ml)", "dispense_ml"),
            LimitedOption("max_anneal_temp_c", settings.melt_temp_c, "melt temperature (°C)", "melt_temp_c"),
        ]

    def check_params(self, params: dict[str, Any]) -> dict[str, float]:
        """The synthesis parameters as floats, validated and checked against the limits."""
        if not isinstance(params, dict):
            raise ValueError(f"robot: params must be a dict, got {type(params).__name__}")
        missing = [p for p in PARAMS if p not in params]
        extra = sorted(set(params) - set(PARAMS))
        if missing or extra:
            raise ValueError(
                f"robot: params need exactly {', '.join(PARAMS)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            )
        out: dict[str, float] = {}
        for name in PARAMS:
            value = params[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"robot: parameter {name!r} must be a finite number, got {value!r}")
            out[name] = float(value)
        if out["molecular_weight"] <= 0:
            raise ValueError(f"robot: molecular_weight must be > 0 kg/mol, got {out['molecular_weight']:g}")
        if not 0.0 <= out["stereoregularity"] <= 1.0:
            raise ValueError(f"robot: stereoregularity is a fraction in [0, 1], got {out['stereoregularity']:g}")
        self.check_limit("max_molecular_weight", out["molecular_weight"], "molecular weight (kg/mol)")
        self.check_limit("max_anneal_temp_c", out["cooling_temperature"], "cooling temperature (°C)")
        return out

    def process_settings(self) -> dict[str, float]:
        """Dispense volume and melt temperature from the options, checked against the limits."""
        self.check_limited_options()
        return {"volume_ml": self.settings.dispense_ml, "melt_temp_c": self.settings.melt_temp_c}

    def synthesize(self, params: dict[str, Any], command_id: str) -> Sample:
        """Make one sample; blocks until it is in the tray. Idempotent per ``command_id``."""
        if not isinstance(command_id, str) or not command_id:
            raise ValueError("robot: command_id must be a non-empty string")
        p = self.check_params(params)
        s = self.process_settings()
        loaded = self.run_action("load_substrate", {"command_id": step_id(command_id, "load")})
        sample_id = loaded.get("sample_id")
        if not isinstance(sample_id, str) or not sample_id:
            raise ProtocolError(f"robot: load_substrate returned no sample id: {loaded!r}")
        on = {"sample_id": sample_id}
        self.run_action("dispense", {
            "command_id": step_id(command_id, "dispense"), **on,
            "molecular_weight": p["molecular_weight"], "stereoregularity": p["stereoregularity"],
            "volume_ml": s["volume_ml"],
        })
        self.run_action("mix", {"command_id": step_id(command_id, "mix"), **on})
        self.run_action("anneal", {
            "command_id": step_id(command_id, "anneal"), **on,
            "cooling_temperature": p["cooling_temperature"], "melt_temp_c": s["melt_temp_c"],
        })
        done = self.run_action("transfer", {"command_id": step_id(command_id, "transfer"), **on})
        return self._sample(done, command_id)

    def _sample(self, result: dict[str, Any], command_id: str) -> Sample:
        sample_id = result.get("sample_id")
        if not isinstance(sample_id, str) or not sample_id:
            raise ProtocolError(f"robot: transfer returned no sample id: {result!r}")
        info = dict(result.get("info") or {})
        info["command_id"] = command_id
        return Sample(sample_id, info)

    def command_outcome(self, command_id: str) -> CommandOutcome:
        """Reconciliation of a whole synthesis.

        ``done`` once the sample is in the tray (``result`` is
        ``{"sample_id", "info"}``, i.e. ``Sample(**result)``); ``failed`` if
        any step failed; otherwise ``unknown``, also when some steps are
        done: calling ``synthesize`` again with the same id then resumes the
        sequence without repeating a step (the steps the robot knows are
        logged).
        """
        known: list[str] = []
        for step in reversed(STEPS):
            o = self.raw_outcome(step_id(command_id, step))
            if o.state == "failed":
                return CommandOutcome(command_id, "failed", error=f"step {step}: {o.error}")
            if step == "transfer" and o.state == "done" and o.result is not None:
                s = self._sample(o.result, command_id)
                return CommandOutcome(command_id, "done", result={"sample_id": s.sample_id, "info": s.info})
            if o.state != "unknown":
                known.append(f"{step}:{o.state}")
        if known:
            log.info("robot: %s is unfinished (%s); synthesize again to resume", command_id, ", ".join(reversed(known)))
        return CommandOutcome(command_id, "unknown")
