"""Generic drivers configured in the campaign TOML (no Python): ``scpi`` (PyVISA) and ``folder`` (a drop folder)."""
