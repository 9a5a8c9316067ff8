"""Generic drivers configured in the campaign TOML, with no Python to write.

- ``scpi``: any SCPI or line-based instrument through PyVISA (commands and queries in options).
- ``folder``: a measurer that reads one result file per sample from a drop folder.
- ``manual``: an operator does the step and confirms it (``labpilot done ID``).
- ``command``: a program (a simulation code) is the instrument.
- ``python``: a function ``module:function(params) -> dict`` (a model) is the instrument.

Each describes one configured instrument through ``for_options(options)``
(``registry.configured_class``): a subclass carrying the role, measured
quantities and limits from the options. ``scpi`` and ``folder`` talk to a
device or a folder and a dry run starts the simulator their ``stand_in``
names; ``manual``, ``command`` and ``python`` (``LocalDriver``) talk to no
device: their ``address`` is a label (``"local"``), and a dry run runs them as
configured (the manual step through a stand-in that confirms by itself).
"""
