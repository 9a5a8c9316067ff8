"""A toolkit for driver authors, shipped with labpilot (not a test suite of its own).

- ``expected_protocol`` / ``expected_exchange``: test a serial driver
  against exact request/reply bytes, with no device (``exchange``).
- ``check_driver`` / ``check_instrument``: the conformance checks any driver
  class (and a connected driver) can run (``conformance``).
- ``LineSimulator`` / ``FolderSimulator``: bases of a dry-run twin for a
  line-based serial instrument on a pty, or a folder-drop instrument
  (``simulators``).
- ``film_campaign`` / ``film_simulation`` / ``InstrumentEntry``: the TOML of
  a small real campaign (the repository's film model and the measurers
  given), for tests and benchmarks that run one (``campaigns``).

Importing it registers the ``expect://`` URL handler with pyserial; it does
not import torch.
"""

from labpilot.testing.campaigns import InstrumentEntry, film_campaign, film_simulation
from labpilot.testing.conformance import check_driver, check_instrument, driver_problems
from labpilot.testing.exchange import ExchangeMismatch, expected_exchange, expected_protocol
from labpilot.testing.simulators import ErrorQueue, FolderSimulator, LineSimulator, SimulatorBase

__all__ = [
    "ErrorQueue",
    "ExchangeMismatch",
    "FolderSimulator",
    "InstrumentEntry",
    "LineSimulator",
    "SimulatorBase",
    "check_driver",
    "check_instrument",
    "driver_problems",
    "expected_exchange",
    "expected_protocol",
    "film_campaign",
    "film_simulation",
]
