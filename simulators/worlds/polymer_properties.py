"""Mechanical properties of polypropylene from its measured structure.

One concept: the noise-free map structure → (tensile modulus, Charpy impact
strength). The properties depend mostly on what XRD and DSC can see
(crystallinity, lamellar thickness, alpha/beta/mesophase shares) and only
weakly and directly on a knob (molecular weight, through tie molecules).
That is the premise of seed 000's USED/BOED: measured descriptors predict the
property better than the controllable ones.

* Modulus: crystallinity stiffens; thicker lamellae stiffen; the mesophase
  and the beta form are softer than alpha.
* Impact strength: crystallinity and thick lamellae embrittle; the beta form
  toughens strongly; the mesophase toughens somewhat; longer chains toughen.
"""

from __future__ import annotations

import math
from typing import Any


def true_properties_from(structure: dict[str, Any], molecular_weight: float) -> dict[str, float]:
    """Noise-free tensile modulus (MPa) and impact strength (kJ/m²)."""
    xc = float(structure["crystallinity"])
    lam = float(structure["lamellar_thickness_nm"])
    pf = structure["phase_fractions"]
    beta, meso = float(pf["beta"]), float(pf["mesophase"])

    modulus = 420.0 + 2000.0 * xc + 25.0 * (lam - 10.0) - 700.0 * meso * xc - 500.0 * beta * xc
    modulus += 60.0 * math.log(molecular_weight / 300.0)
    log_impact = (
        math.log(4.5) - 3.2 * (xc - 0.5) - 0.03 * (lam - 10.0) + 2.2 * beta + 0.6 * meso
        + 0.25 * math.log(molecular_weight / 300.0)
    )
    return {"tensile_modulus": float(modulus), "impact_strength": float(math.exp(log_impact))}
