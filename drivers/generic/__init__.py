"""Generic drivers configured in the campaign TOML, with no Python to write.

- ``manual``: an operator does the step and confirms it (``labpilot done ID``).
- ``command``: a program (a simulation code) is the instrument.
- ``python``: a function ``module:function(params) -> dict`` (a model) is the instrument.

They talk to no device: their ``address`` is a label (``"local"``), their
role and measured quantities come from their options (``LocalDriver``), and a
dry run runs them as configured (the manual step through a stand-in that
confirms by itself) instead of starting a simulator process.
"""
