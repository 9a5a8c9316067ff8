"""The shipped alloy campaign made parallel: two interchangeable sputter systems, ``parallel`` in flight."""

from __future__ import annotations

from pathlib import Path


def parallel_campaign(alloy_campaign_file: Path, out: Path, parallel: int = 4, budget: int = 12,
                      initial: int = 3) -> Path:
    """Write the alloy campaign with a second sputter system (stage ``deposition``) and ``[execution]``."""
    text = alloy_campaign_file.read_text()
    text = text.replace("initial_design = 6", f"initial_design = {initial}")
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
    text = text.replace("max_experiments = 40", f"max_experiments = {budget}")
    text = text.replace("[budget]", f"[execution]\nparallel = {parallel}\n\n[budget]")
    start = text.index('[[instruments]]\nname = "sputter"')
    end = text.index('[[instruments]]\nname = "xrd"')
    sputter = text[start:end].replace('kind = "sputter"', 'kind = "sputter"\nstage = "deposition"')
    second = sputter.replace('name = "sputter"', 'name = "sputter2"').replace("/dev/ttyUSB0", "/dev/ttyUSB2")
    out.write_text(text[:start] + sputter + second + text[end:])
    return out
