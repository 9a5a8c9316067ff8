"""The proof: the example plugin installs into a fresh environment and its campaign validates and dry-runs.

A throwaway virtual environment gets labpilot (from this checkout) and
``examples/labpilot-fourpoint`` (``pip install --no-deps``, as a user would
install a lab's plugin); nothing is imported from the source tree. Then
``labpilot plugins --json`` lists the plugin's kinds with their quantities,
and the example campaign (built-in sputter system, the plugin's four-point
probe and folder-drop diffractometer, ``sheet_resistance`` as objective)
validates and dry-runs against the three simulators.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.plugins.helpers import EXAMPLE

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _pip_install(python: Path, target: str, cwd: Path, editable: bool = False) -> None:
    """``pip install --no-deps``: offline with the build tools already here, else with pip's build isolation."""
    cmd = [str(python), "-m", "pip", "install", "--no-deps", "-q", *(["-e"] if editable else []), target]
    out = _run([*cmd[:4], "--no-build-isolation", *cmd[4:]], cwd)
    if out.returncode != 0:
        out = _run(cmd, cwd)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv (system site packages: the dependencies) with labpilot and the example plugin installed."""
    root = tmp_path_factory.mktemp("plugin-env")
    venv = root / "venv"
    assert _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], root).returncode == 0
    python = venv / "bin" / "python"
    # the dependencies this interpreter sees (when it is itself a venv, the system's are not all of them)
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        root).stdout.strip())
    (purelib / "_parent_site.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    example = root / "labpilot-fourpoint"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _pip_install(python, str(REPO), root, editable=True)
    _pip_install(python, str(example), root)
    return venv


def test_plugins_lists_the_example_kinds_with_their_quantities(fresh_env: Path, tmp_path: Path) -> None:
    out = _run([str(fresh_env / "bin" / "labpilot"), "plugins", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    kinds = {d["kind"]: d for d in json.loads(out.stdout)["instruments"]}
    probe, xrd = kinds["fourpoint-probe"], kinds["drop-xrd"]
    assert probe["distribution"] == {"name": "labpilot-fourpoint", "version": "0.1.0"}
    assert (probe["role"], probe["scalars"], probe["limits"]) == ("measure", {"sheet_resistance": "ohm/sq"},
                                                                 ["max_current_a"])
    assert probe["options"]["baudrate"]["default"] == 9600 and probe["options"]["current_a"]["default"] == 0.001
    assert probe["can_reconcile"] is False and probe["has_simulator"] is True
    assert xrd["arrays"] == {"two_theta": "deg", "intensity": "counts"} and xrd["axes"] == ["two_theta"]
    assert kinds["sputter"]["distribution"]["name"] == "labpilot" and kinds["sputter"]["can_reconcile"] is True


def test_the_example_campaign_validates_and_dry_runs(fresh_env: Path, tmp_path: Path) -> None:
    labpilot = str(fresh_env / "bin" / "labpilot")
    campaign = str(EXAMPLE / "campaign.toml")
    out = _run([labpilot, "validate", campaign], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "ok (campaign 'film-sheet-resistance'" in out.stdout
    db = tmp_path / "example.db"
    out = _run([labpilot, "run", campaign, "--dry-run", "--db", str(db), "--max-experiments", "3"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "simulator probe         (fourpoint-probe)" in out.stdout
    assert f"at {tmp_path / 'example.db.sim' / 'xrd.drop'}" in out.stdout  # the folder-drop twin's folder
    assert "experiments: 3 completed" in out.stdout
    check = (
        "import sys\n"
        "from labpilot.agent.store import Store\n"
        f"store = Store.open({str(db)!r})\n"
        "for e in store.experiments():\n"
        "    arrays = store.arrays(e.id)\n"
        "    assert e.status == 'completed' and e.scalars['sheet_resistance'] > 0, e\n"
        "    assert arrays['xrd.two_theta'].shape == arrays['xrd.intensity'].shape == (1401,), sorted(arrays)\n"
        "    assert 20 <= e.scalars['peak_two_theta'] <= 90\n"
        "print(len(store.experiments()))\n"
    )
    out = _run([str(fresh_env / "bin" / "python"), "-c", check], tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "3", out.stdout + out.stderr
