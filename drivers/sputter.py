"""Driver of a co-sputtering system over a serial line (``Synthesizer``).

``synthesize({"Fe": 0.7, "Co": 0.3}, command_id)`` turns composition
fractions into target powers (``power_i ∝ fraction_i / rate_i``, with rates
in nm/s per W from ``options["rates"]``), scaled so the largest power equals
``options["max_power_w"]`` (default: the ``max_target_power_w`` limit, else
200 W) or, if ``options["total_power_w"]`` is set, so the powers add up to
it. Every value is checked against the campaign's limits before anything is
sent. It then sets gas, pressure, heater, powers, opens the shutter, starts
the deposition with the command id, polls until done, and closes the shutter
and switches the guns off.

Options: ``targets`` (element per gun, default Fe, Co, Ni, Ir, Pt),
``rates``, ``deposition_time_s`` (1800), ``pressure_pa`` (0.5),
``substrate_temp_c`` (None = heater off), ``gas_flow_sccm`` (20),
``max_power_w``, ``total_power_w``, ``channels`` ({target: gun number}, read
from the instrument with ``SOUR:TARG?`` if absent), ``speed``.
Params may override ``deposition_time_s``, ``pressure_pa``,
``substrate_temp_c`` and ``gas_flow_sccm`` per sample.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any, ClassVar, Mapping

from pydantic import Field, model_validator

from labpilot.errors import DriverError, ProtocolError, ScpiProtocolError
from labpilot.drivers.options import DriverOptions, Number, PositiveInt, PositiveNumber
from labpilot.drivers.params import Accepted, Accepts, LimitedOption
from labpilot.drivers.scpi_instrument import ScpiInstrument, ScpiOptions
from labpilot.protocols.capabilities import Sample
from labpilot.protocols.scpi import parse_int, parse_numbers, split_fields

log = logging.getLogger("labpilot.drivers.sputter")

DEFAULT_TARGETS = ("Fe", "Co", "Ni", "Ir", "Pt")
PROCESS_KEYS = ("deposition_time_s", "pressure_pa", "substrate_temp_c", "gas_flow_sccm")
FRACTION_TOLERANCE = 1e-3


class SputterOptions(ScpiOptions):
    """Targets, calibration and the default process of every deposition."""

    targets: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = list(DEFAULT_TARGETS)
    """Element of each gun; a campaign's composition parameters are named after them."""
    rates: dict[str, PositiveNumber] | None = None
    """Deposition rate per target, nm/s per W (default: equal rates, with a warning)."""
    channels: dict[str, PositiveInt] | None = None
    """Gun number per target (default: read from the instrument with ``SOUR:TARG?``)."""
    deposition_time_s: PositiveNumber = 1800.0
    """Deposition time, s (a parameter of the same name overrides it per sample)."""
    pressure_pa: PositiveNumber = 0.5
    """Process pressure, Pa (overridable per sample)."""
    substrate_temp_c: Number | None = None
    """Substrate temperature, °C; none: heater off (overridable per sample)."""
    gas_flow_sccm: PositiveNumber = 20.0
    """Ar flow, sccm (overridable per sample)."""
    max_power_w: PositiveNumber | None = None
    """Power of the strongest target, W (default: the ``max_target_power_w`` limit, else 200 W)."""
    total_power_w: PositiveNumber | None = None
    """Scale powers to add up to this, W, instead of ``max_power_w``."""

    @model_validator(mode="after")
    def _consistent(self) -> "SputterOptions":
        if len(set(self.targets)) != len(self.targets):
            raise ValueError(f"targets: each element once, got {self.targets}")
        for name in ("rates", "channels"):
            table = getattr(self, name)
            missing = [t for t in self.targets if table is not None and t not in table]
            if missing:
                raise ValueError(f"{name} lacks target(s) {missing} (targets {self.targets})")
        if self.max_power_w is not None and self.total_power_w is not None:
            raise ValueError("max_power_w and total_power_w both set: give one (how the powers are scaled)")
        return self


class SputterDriver(ScpiInstrument):
    """Co-sputtering system: composition in, film (``Sample``) out."""

    Options: ClassVar[type[DriverOptions]] = SputterOptions
    settings: SputterOptions

    kind = "sputter"
    role = "synthesize"
    model_hint = "SPUTTER"
    action = "DEP"
    nominal_s = 1800.0
    known_limits = (
        "max_target_power_w",
        "max_total_power_w",
        "max_pressure_pa",
        "max_substrate_temp_c",
        "max_gas_flow_sccm",
        "max_deposition_time_s",
    )

    def __init__(self, address: str, **kw: Any) -> None:
        super().__init__(address, **kw)
        self.targets = tuple(self.settings.targets)
        self.rates = self._rates()
        try:
            self.channels = self._channels()
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- self-description
    @classmethod
    def accepts(cls, settings: DriverOptions, limits: Mapping[str, float]) -> Accepts:
        """A fraction per target (summing to 1) and, optionally, the process settings per sample."""
        assert isinstance(settings, SputterOptions)
        fractions = tuple(Accepted(t, "1", low=0.0, high=1.0, doc=f"fraction of {t} in the film")
                          for t in settings.targets)
        process = (
            Accepted("deposition_time_s", "s", low=0.0, low_open=True, high=limits.get("max_deposition_time_s"),
                     doc="deposition time"),
            Accepted("pressure_pa", "Pa", low=0.0, low_open=True, high=limits.get("max_pressure_pa"),
                     doc="process pressure"),
            Accepted("substrate_temp_c", "°C", high=limits.get("max_substrate_temp_c"), doc="substrate temperature"),
            Accepted("gas_flow_sccm", "sccm", low=0.0, low_open=True, high=limits.get("max_gas_flow_sccm"),
                     doc="Ar flow"),
        )
        return Accepts(fractions + process, fractions=tuple(settings.targets))

    @classmethod
    def limited_options(cls, settings: DriverOptions) -> list[LimitedOption]:
        assert isinstance(settings, SputterOptions)
        out = [
            LimitedOption("max_deposition_time_s", settings.deposition_time_s, "deposition time in s",
                          "deposition_time_s"),
            LimitedOption("max_pressure_pa", settings.pressure_pa, "process pressure in Pa", "pressure_pa"),
            LimitedOption("max_gas_flow_sccm", settings.gas_flow_sccm, "gas flow in sccm", "gas_flow_sccm"),
        ]
        if settings.substrate_temp_c is not None:
            out.append(LimitedOption("max_substrate_temp_c", settings.substrate_temp_c,
                                     "substrate temperature in °C", "substrate_temp_c"))
        if settings.max_power_w is not None:
            out.append(LimitedOption("max_target_power_w", settings.max_power_w, "target power in W", "max_power_w"))
        if settings.total_power_w is not None:
            out.append(LimitedOption("max_total_power_w", settings.total_power_w, "total power in W",
                                     "total_power_w"))
        return out

    # ---------------------------------------------------------------- set-up
    def _rates(self) -> dict[str, float]:
        rates = self.settings.rates
        if rates is None:
            log.warning("sputter: no options['rates']; assuming equal deposition rates for %s", self.targets)
            return {t: 1.0 for t in self.targets}
        return {t: float(rates[t]) for t in self.targets}

    def _channels(self) -> dict[str, int]:
        given = self.settings.channels
        if given is not None:
            return {t: int(given[t]) for t in self.targets}
        count = self.ask("SOUR:COUN?", parse=lambda t: parse_int(t, "target count"))
        on_instrument = {}
        for n in range(1, count + 1):
            element = self.ask("SOUR:TARG?", n, parse=lambda t: split_fields(t)[0])
            on_instrument[element] = n
        missing = [t for t in self.targets if t not in on_instrument]
        if missing:
            raise ProtocolError(
                f"sputter at {self.address}: target(s) {missing} not mounted; the guns hold {sorted(on_instrument, key=on_instrument.get)}"
            )
        return {t: on_instrument[t] for t in self.targets}

    # ---------------------------------------------------------------- recipe
    def recipe(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Params → the settings to send (powers, gas, pressure, temperature, time), limits checked."""
        unknown = sorted(set(params) - set(self.targets) - set(PROCESS_KEYS))
        if unknown:
            raise ValueError(
                f"sputter: unknown parameter(s) {unknown}; expected fractions of {list(self.targets)} "
                f"and optionally {list(PROCESS_KEYS)}"
            )
        fractions = {}
        for t in self.targets:
            try:
                f = float(params.get(t, 0.0))
            except (TypeError, ValueError):
                raise ValueError(f"sputter: fraction of {t} must be a number, got {params.get(t)!r}") from None
            if not math.isfinite(f) or f < 0:
                raise ValueError(f"sputter: fraction of {t} must be finite and >= 0, got {f!r}")
            fractions[t] = f
        total = sum(fractions.values())
        if abs(total - 1.0) > FRACTION_TOLERANCE:
            raise ValueError(f"sputter: composition fractions must sum to 1, got {total:.6g} ({fractions})")
        relative = {t: fractions[t] / self.rates[t] for t in self.targets}
        if self.settings.total_power_w is not None:
            scale = self.settings.total_power_w / sum(relative.values())
        else:
            peak = self.settings.max_power_w or self.limits.get("max_target_power_w", 200.0)
            scale = peak / max(relative.values())
        powers = {t: relative[t] * scale for t in self.targets}

        def setting(key: str) -> Any:
            return params.get(key, getattr(self.settings, key))

        recipe = {
            "powers_w": powers,
            "duration_s": float(setting("deposition_time_s")),
            "pressure_pa": float(setting("pressure_pa")),
            "gas_flow_sccm": float(setting("gas_flow_sccm")),
            "substrate_temp_c": setting("substrate_temp_c"),
        }
        for t, p in powers.items():
            self.check_limit("max_target_power_w", p, f"target {t} power in W")
        self.check_limit("max_total_power_w", sum(powers.values()), "total power in W")
        self.check_limit("max_pressure_pa", recipe["pressure_pa"], "process pressure in Pa")
        self.check_limit("max_gas_flow_sccm", recipe["gas_flow_sccm"], "gas flow in sccm")
        self.check_limit("max_deposition_time_s", recipe["duration_s"], "deposition time in s")
        if recipe["substrate_temp_c"] is not None:
            recipe["substrate_temp_c"] = float(recipe["substrate_temp_c"])
            self.check_limit("max_substrate_temp_c", recipe["substrate_temp_c"], "substrate temperature in °C")
        if recipe["duration_s"] <= 0:
            raise ValueError(f"sputter: deposition time must be > 0 s, got {recipe['duration_s']}")
        return recipe

    # ---------------------------------------------------------------- synthesize
    def synthesize(self, params: dict[str, Any], command_id: str) -> Sample:
        """Deposit one film; safe to call again with the same ``command_id`` (never deposits twice)."""
        recipe = self.recipe(params)
        cid = self._id(command_id)

        def start() -> None:
            self._prepare(recipe)
            self.set("DEP:START", cid, recipe["duration_s"])

        result = self.run_action(cid, start, self.fetch_result, recipe["duration_s"], after_wait=self._end_deposition)
        return Sample(result["sample_id"], info=result["info"])

    def _prepare(self, recipe: dict[str, Any]) -> None:
        self.set("GAS:FLOW", recipe["gas_flow_sccm"])
        self.set("PRES", recipe["pressure_pa"])
        if recipe["substrate_temp_c"] is None:
            self.set("HEAT", "OFF")
        else:
            self.set("TEMP", recipe["substrate_temp_c"])
            self.set("HEAT", "ON")
        for t, p in recipe["powers_w"].items():
            self.set("SOUR:POW", self.channels[t], round(p, 6))
        self.set("SHUT", "OPEN")

    def _end_deposition(self) -> None:
        """Close the shutter and switch the guns off (best effort: log, do not mask the real error)."""
        try:
            self.set("SHUT", "CLOSE")
            for t in self.targets:
                self.set("SOUR:POW", self.channels[t], 0)
        except DriverError as exc:
            log.error("sputter: could not end the deposition cleanly: %s", exc)

    def fetch_result(self, command_id: str) -> dict[str, Any]:
        """``DEP:RES?`` → ``{"sample_id", "info": {"powers_w", "duration_s"}}``."""

        def parse(text: str) -> dict[str, Any]:
            fields = split_fields(text)
            numbers = parse_numbers(",".join(fields[1:]), what="deposition result")
            if len(numbers) < 1 + max(self.channels.values()):
                raise ScpiProtocolError(f"deposition result {text[:80]!r} has too few fields")
            powers = {t: numbers[1 + self.channels[t] - 1] for t in self.targets}
            return {"sample_id": fields[0], "info": {"powers_w": powers, "duration_s": numbers[0]}}

        return self.ask("DEP:RES?", self._id(command_id), parse=parse)

    def make_safe(self) -> None:
        """Shutter closed, every gun off, heater off (each step tried even if one fails)."""
        steps = [("SHUT", ("CLOSE",))] + [("SOUR:POW", (self.channels[t], 0)) for t in self.targets] + [("HEAT", ("OFF",))]
        failures = []
        for header, args in steps:
            try:
                self.set(header, *args)
            except DriverError as exc:
                failures.append(f"{header}: {exc}")
        if failures:
            raise DriverError("sputter: make_safe incomplete: " + "; ".join(failures))
