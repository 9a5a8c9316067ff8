"""The FPP-4's dry-run twin: the same dialect on a pseudo-terminal, sheet resistance from the film's truth.

The film (composition, thickness, grain size) comes from the dry run's
tray, where the sputter simulator left it. Resistivity follows Nordheim's
rule, the elements' resistivities plus alloy-disorder and grain-boundary
scattering; sheet resistance = resistivity / thickness, with 0.5 % noise.
"""

from __future__ import annotations

import time
from typing import Any

from labpilot.testing import LineSimulator

#: Room-temperature resistivities of the pure metals, µΩ·cm.
RESISTIVITY_UOHM_CM = {"Fe": 9.7, "Co": 6.2, "Ni": 6.9, "Ir": 4.7, "Pt": 10.6}
#: Alloy-disorder scattering, µΩ·cm per unit of sum_i<j x_i x_j.
DISORDER_UOHM_CM = 160.0
#: Grain-boundary scattering, µΩ·cm · nm.
GRAIN_UOHM_CM_NM = 220.0


def sheet_resistance(truth: dict[str, Any]) -> float:
    """Sheet resistance in ohm/sq of a sputtered film (``AlloyWorld.deposit`` truth)."""
    x = {e: float(v) for e, v in truth["composition"].items()}
    rho = sum(x[e] * RESISTIVITY_UOHM_CM[e] for e in x)
    pairs = sum(x[a] * x[b] for i, a in enumerate(x) for b in list(x)[i + 1:])
    rho += DISORDER_UOHM_CM * pairs + GRAIN_UOHM_CM_NM / max(float(truth["grain_nm"]), 1.0)
    thickness_nm = max(float(truth["thickness_nm"]), 0.1)
    return 10.0 * rho / thickness_nm  # µΩ·cm / nm -> ohm/sq


class FourPointProbeSimulator(LineSimulator):
    """Answers the FPP-4 dialect; set-commands and errors answer nothing (errors go to SYST:ERR?)."""

    nominal_s = 20.0  # one reading, on the probe's clock

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded: str | None = None
        self.current_a = 1e-3
        self.output = False

    def handle(self, line: str) -> str | None:
        header, _, arg = line.partition(" ")
        header = header.upper()
        if header == "*IDN?":
            return "OHMTEK,FPP-4,SN0001,FW2.3a"
        if header == "*CLS":
            self.errors.clear()
        elif header == "*RST":
            self.output, self.loaded = False, None
        elif header == "SYST:ERR?":
            return self.errors.pop()
        elif header == "SAMP:LOAD":
            if self.sample(arg) is None:
                self.errors.push(-222, f"Data out of range; no sample {arg} in the changer")
                self.loaded = None
            else:
                self.loaded = arg
        elif header == "SAMP:LOAD?":
            return self.loaded or "NONE"
        elif header == "SOUR:CURR":
            try:
                value = float(arg)
            except ValueError:
                self.errors.push(-104, "Data type error")
                return None
            if not 0 < value <= 0.1:
                self.errors.push(-222, "Data out of range; current")
            else:
                self.current_a = value
        elif header == "OUTP":
            if arg.upper() not in ("ON", "OFF", "1", "0"):
                self.errors.push(-224, "Illegal parameter value")
            else:
                self.output = arg.upper() in ("ON", "1")
        elif header == "OUTP?":
            return "1" if self.output else "0"
        elif header == "MEAS:SRES?":
            return self.measure()
        else:
            self.errors.push(-113, "Undefined header")
        return None

    def measure(self) -> str:
        found = self.sample(self.loaded) if self.loaded else None
        if found is None or not self.output:
            self.errors.push(-221, "Settings conflict; " + ("no sample loaded" if found is None else "output is off"))
            return "9.91E+37"
        time.sleep(min(self.action_s(), 1.0))
        _world, truth = found
        value = sheet_resistance(truth) * (1.0 + self.rng.normal(0.0, 0.005))
        return f"{value:.6E}"
