"""Simulated co-sputtering system (serial, SCPI-style), backed by ``AlloyWorld``.

Command set (besides the common commands of ``scpi_device``: ``*IDN?``, ``*OPC?``,
``SYST:ERR?``, ``*CLS``, ``*RST``, ``STAT?``, ...); only queries answer, set-commands
and refused commands answer nothing (errors go to ``SYST:ERR?``):

==========================  ===============================================
``SOUR:COUN?``              number of targets (guns)
``SOUR:TARG? <n>``          element of target n (1-based), e.g. ``Fe``
``SOUR:POW <n>,<W>``        target n power, 0-600 W; ``SOUR:POW? <n>``
``GAS:FLOW <sccm>``         Ar flow, 0-200 sccm; ``GAS:FLOW?``
``PRES <Pa>``               process pressure, 0-10 Pa; ``PRES?``
``TEMP <C>``                substrate heater set point, 0-900 °C; ``TEMP?``
``HEAT ON|OFF``             substrate heater; ``HEAT?``
``SHUT OPEN|CLOSE``         substrate shutter; ``SHUT?``
``DEP:START <id>,<s>``      deposit for s virtual seconds (needs the shutter
                            open, gas, pressure and some power); duplicate
                            ids are ignored
``DEP:STAT? <id>``          ``RUNNING,p`` | ``DONE,<sample>`` | ``FAILED,c,"m"`` | ``UNKNOWN``
``DEP:RES? <id>``           ``<sample_id>,<duration_s>,<P1>,...,<Pn>``
``DEP:ABOR``                abort the running deposition
==========================  ===============================================

Closing the shutter or switching every target off during a deposition
aborts it (error 210). A finished film's hidden truth goes to the tray; the
ledger gets one ``deposit`` line per command id (and ``abort`` if it failed).
"""

from __future__ import annotations

import argparse
from typing import Any

from labpilot.errors import SimulatedFault
from labpilot.protocols.scpi import ERR_SETTINGS_CONFLICT, Command, format_number
from labpilot.simulators.scpi_device import SERIAL_TRANSPORTS, Handler, ScpiDevice
from labpilot.simulators.serial_server import serve_device

#: Transports this simulator serves (read by ``python -m labpilot.simulators``).
TRANSPORTS = SERIAL_TRANSPORTS

MAX_POWER_W = 600.0
MAX_FLOW_SCCM = 200.0
MAX_PRESSURE_PA = 10.0
MAX_TEMP_C = 900.0
MAX_DURATION_S = 86400.0
ROOM_TEMP_C = 25.0


class SputterDevice(ScpiDevice):
    """A multi-target magnetron sputtering system."""

    kind = "sputter"
    model = "SPUTTER-SIM"
    action = "DEP"
    persist_outcomes = True

    def __init__(self, *, world: Any = None, **kw: Any) -> None:
        if world is None:
            from labpilot.simulators.worlds.alloy import AlloyWorld

            world = AlloyWorld(0)
        self.world = world
        self.targets: tuple[str, ...] = tuple(world.ELEMENTS)
        super().__init__(**kw)
        self.reset()

    def reset(self) -> None:
        """Safe state: all powers 0, shutter closed, heater off, gas off."""
        self.powers = [0.0] * len(self.targets)
        self.flow = 0.0
        self.pressure = 0.0
        self.setpoint = ROOM_TEMP_C
        self.heater = False
        self.shutter_open = False

    def commands(self) -> dict[str, Handler]:
        return {
            "SOUR:COUN?": lambda c: str(len(self.targets)),
            "SOUR:TARG?": lambda c: self.targets[self._target(self.need_args(c, 1)[0]) - 1],
            "SOUR:POW": self._set_power,
            "SOUR:POW?": lambda c: format_number(self.powers[self._target(self.need_args(c, 1)[0]) - 1]),
            "GAS:FLOW": lambda c: self._set("flow", c, "gas flow", 0.0, MAX_FLOW_SCCM),
            "GAS:FLOW?": lambda c: format_number(self.flow),
            "PRES": lambda c: self._set("pressure", c, "pressure", 0.0, MAX_PRESSURE_PA),
            "PRES?": lambda c: format_number(self.pressure),
            "TEMP": lambda c: self._set("setpoint", c, "substrate temperature", 0.0, MAX_TEMP_C),
            "TEMP?": lambda c: format_number(self.setpoint),
            "HEAT": self._set_heater,
            "HEAT?": lambda c: "ON" if self.heater else "OFF",
            "SHUT": self._set_shutter,
            "SHUT?": lambda c: "OPEN" if self.shutter_open else "CLOSED",
            "DEP:START": self._start,
        }

    def status_fields(self) -> dict[str, Any]:
        return {
            "SHUTTER": "OPEN" if self.shutter_open else "CLOSED",
            "HEATER": "ON" if self.heater else "OFF",
            "TEMP": format_number(self.setpoint),
            "PRES": format_number(self.pressure),
            "FLOW": format_number(self.flow),
            **{f"POW{i + 1}": format_number(p) for i, p in enumerate(self.powers)},
        }

    # ---------------------------------------------------------------- setters
    def _target(self, text: str) -> int:
        n = self.number(text, "target number", 1, len(self.targets))
        if n != int(n):
            raise SimulatedFault(-224, f"Illegal parameter value; target number {text!r} is not an integer")
        return int(n)

    def _set(self, attr: str, cmd: Command, what: str, lo: float, hi: float) -> None:
        (value,) = self.need_args(cmd, 1)
        setattr(self, attr, self.number(value, what, lo, hi))
        return None

    def _set_power(self, cmd: Command) -> None:
        target, value = self.need_args(cmd, 2)
        n = self._target(target)
        self.powers[n - 1] = self.number(value, f"target {n} power", 0.0, MAX_POWER_W)
        if self.running is not None and sum(self.powers) <= 0.0:
            self._abort_running("every target switched off")
        return None

    def _set_heater(self, cmd: Command) -> None:
        (word,) = self.need_args(cmd, 1)
        self.heater = self._keyword(word, {"ON": True, "OFF": False, "1": True, "0": False})
        return None

    def _set_shutter(self, cmd: Command) -> None:
        (word,) = self.need_args(cmd, 1)
        self.shutter_open = self._keyword(word, {"OPEN": True, "CLOSE": False, "CLOSED": False})
        if not self.shutter_open and self.running is not None:
            self._abort_running("shutter closed")
        return None

    @staticmethod
    def _keyword(word: str, choices: dict[str, bool]) -> bool:
        try:
            return choices[word.upper()]
        except KeyError:
            raise SimulatedFault(-224, f"Illegal parameter value; {word!r} is not one of {', '.join(choices)}") from None

    # ---------------------------------------------------------------- deposition
    def _start(self, cmd: Command) -> None:
        cid, dur = self.need_args(cmd, 2)
        cid = self.ident(cid)
        duration = self.number(dur, "deposition time", 1e-3, MAX_DURATION_S)
        return self.start_action(cid, duration, lambda: self._begin(cid, duration))

    def _begin(self, cid: str, duration: float):
        problems = []
        if not self.shutter_open:
            problems.append("shutter closed")
        if sum(self.powers) <= 0.0:
            problems.append("no target powered")
        if self.flow <= 0.0:
            problems.append("no process gas")
        if self.pressure <= 0.0:
            problems.append("no process pressure")
        if problems:
            raise SimulatedFault(ERR_SETTINGS_CONFLICT, f"Settings conflict; cannot deposit: {', '.join(problems)}")
        powers = {t: p for t, p in zip(self.targets, self.powers)}
        temp = self.setpoint if self.heater else ROOM_TEMP_C
        truth = self.world.deposit(powers, duration, temp, self.pressure, rng=self.rng)
        sample_id = self.tray.new_sample_id("SP")
        self.ledger.record(
            self.kind, "deposit", cid, sample_id,
            powers_w=powers, duration_s=duration, substrate_temp_c=temp, pressure_pa=self.pressure,
            gas_flow_sccm=self.flow,
        )
        result = {"sample_id": sample_id, "duration_s": duration, "powers_w": powers}

        def finish() -> dict[str, Any]:
            self.tray.put(sample_id, "alloy", truth)
            return result

        return finish

    def result_fields(self, result: dict[str, Any]) -> list[Any]:
        return [result["sample_id"], float(result["duration_s"]), *(float(p) for p in result["powers_w"].values())]


def serve(args: argparse.Namespace) -> None:
    """Run the simulator (``python -m labpilot.simulators sputter --pty ...``)."""
    from labpilot.simulators.worlds.alloy import AlloyWorld

    device = SputterDevice.from_args(args, world=AlloyWorld(args.world_seed))
    serve_device(device, args)
