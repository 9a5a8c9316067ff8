"""labpilot plugin: two instruments connected without editing labpilot.

- ``FourPointProbe`` (kind ``fourpoint-probe``): an Ohmtek FPP-4 four-point
  probe on a 9600-baud serial line, speaking its own SCPI dialect; it
  measures ``sheet_resistance`` in ohm/sq.
- ``DropDiffractometer`` (kind ``drop-xrd``): a diffractometer whose control
  software writes one CSV file per scan into a folder.

Each has a simulator (``probe_sim``, ``diffractometer_sim``) built on
``labpilot.testing``'s bases, so a campaign using them can be dry-run.
"""
