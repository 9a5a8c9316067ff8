"""Plugins: kinds and planners come from entry points (built-ins too), class paths, one-line errors, lazy loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labpilot import registry
from labpilot.agent.campaign import loads_campaign
from labpilot.errors import CampaignError, PlannerError, PluginError
from labpilot.planners.base import make_planner
from labpilot.planners.space import ContinuousParam, Objective, Space
from tests.plugins.helpers import EXAMPLE_SRC, env_with_path, fake_distribution, labpilot_cmd

COERCIVITY_METER = '''
from labpilot.drivers.magnetometer import MagnetometerDriver


class CoercivityMeter(MagnetometerDriver):
    """A magnetometer that also reports coercivity (a quantity no built-in declares)."""

    kind = "coercivity-meter"
    scalars = {"magnetization": "emu/cm3", "coercivity": "Oe"}
'''

MY_PLANNER = '''
from labpilot.planners.random_planner import RandomPlanner


class MyPlanner(RandomPlanner):
    """Random proposals under another name."""

    name = "my-random"
'''

ENTRY_POINTS = """\
[labpilot.drivers]
coercivity-meter = myplug.meter:CoercivityMeter
broken = missing_module_xyz:Driver
badsyntax = myplug.bad:Driver

[labpilot.planners]
my-random = myplug.planner:MyPlanner
"""


def campaign_text(kind: str, objective: str = "magnetization", planner: str = "random") -> str:
    """A small campaign: a sputter system and one measurer of ``kind``."""
    return f"""
name = "plug"
initial_design = 2
[budget]
max_experiments = 4
[planner]
name = "{planner}"
[[objectives]]
name = "{objective}"
[[parameters]]
name = "Fe"
type = "continuous"
low = 0.0
high = 1.0
[[parameters]]
name = "Co"
type = "continuous"
low = 0.0
high = 1.0
[[constraints]]
type = "simplex"
parameters = ["Fe", "Co"]
[[instruments]]
name = "sputter"
kind = "sputter"
address = "/dev/ttyUSB0"
[instruments.options]
targets = ["Fe", "Co"]
[[instruments]]
name = "m"
kind = "{kind}"
address = "/dev/ttyUSB1"
"""


@pytest.fixture
def plugin_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution 'myplug' installed on sys.path: a working driver and planner, two broken drivers."""
    root = fake_distribution(tmp_path / "site", "myplug", ENTRY_POINTS, {
        "myplug.__init__": "",
        "myplug.meter": COERCIVITY_METER,
        "myplug.planner": MY_PLANNER,
        "myplug.bad": "def broken(:\n",
    })
    monkeypatch.syspath_prepend(str(root))
    registry.clear_cache()
    yield root
    monkeypatch.undo()
    registry.clear_cache()  # the fake distribution is gone for the next test


def test_builtins_register_through_labpilots_own_entry_points() -> None:
    entries = registry.DRIVERS.entries()
    assert {k: entries[k].distribution for k in ("sputter", "xrd")} == {"sputter": "labpilot", "xrd": "labpilot"}
    assert registry.SIMULATORS.entry("robot").target == "labpilot.simulators.robot_sim"
    assert registry.PLANNERS.entry("bo").target == "labpilot.planners.bo:BoPlanner"
    assert set(registry.PLANNERS.names()) >= {"random", "bo", "mobo", "range", "uncertainty", "ae-bo", "used", "boed"}


def test_the_fallback_is_the_same_table_the_install_registers() -> None:
    for table in (registry.DRIVERS, registry.SIMULATORS, registry.PLANNERS):
        own = {n: e.target for n, e in table.entries().items() if e.distribution == "labpilot"}
        assert own and registry.source_tree_entry_points(table.group) == own


def test_without_any_metadata_the_source_tree_still_lists_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_installed", lambda group: ())  # as if never installed
    assert registry.DRIVERS.entry("sputter") == registry.Entry(
        "sputter", "labpilot.drivers.sputter:SputterDriver", "labpilot (source tree)")
    assert registry.driver_class("magnetometer").kind == "magnetometer"
    assert registry.SIMULATORS.names() == ("dsc", "folder", "magnetometer", "robot", "sputter", "tensile", "xrd")
    assert "bo" in registry.PLANNERS.names()


def test_the_fallback_table_serves_only_without_labpilots_own_metadata() -> None:
    table = registry.Registry("labpilot.nobody-registers-this", "gadget", {"g": "labpilot.errors:PluginError"})
    assert table.entry("g").distribution == "labpilot (source tree)"
    assert table.load("g") is PluginError
    # the real groups are registered by the installed labpilot: no fallback entry is used
    assert not any("source tree" in e.distribution for e in registry.DRIVERS.entries().values())


def test_a_plugin_distribution_adds_a_kind_and_a_planner(plugin_root: Path) -> None:
    assert "coercivity-meter" in registry.instrument_kinds()
    entry = registry.DRIVERS.entry("coercivity-meter")
    assert (entry.distribution, entry.target) == ("myplug", "myplug.meter:CoercivityMeter")
    assert registry.measured_scalars("coercivity-meter") == {"magnetization": "emu/cm3", "coercivity": "Oe"}
    # the quantity the user could not optimize is an objective now
    c = loads_campaign(campaign_text("coercivity-meter", objective="coercivity", planner="my-random"))
    assert c.measurers[0].kind == "coercivity-meter"
    space = Space((ContinuousParam("x", 0.0, 1.0),))
    planner = make_planner("my-random", space, [Objective("y", "maximize")], seed=1)
    assert type(planner).__module__ == "myplug.planner" and len(planner.propose([], 2)) == 2


def test_a_broken_plugin_is_one_line_naming_its_entry_point(plugin_root: Path) -> None:
    with pytest.raises(PluginError) as missing:
        registry.driver_class("broken")
    text = str(missing.value)
    assert "\n" not in text
    for part in ("labpilot.drivers", "broken = missing_module_xyz:Driver", "distribution myplug",
                 "ModuleNotFoundError", "missing_module_xyz"):
        assert part in text
    with pytest.raises(PluginError, match=r"badsyntax = myplug.bad:Driver .*SyntaxError"):
        registry.driver_class("badsyntax")
    # a campaign that does not use them is not affected; one that does gets the line at its field
    assert loads_campaign(campaign_text("magnetometer")).measurers[0].kind == "magnetometer"
    assert {"two_theta", "temperature"} <= registry.axis_arrays()  # summaries skip the broken plugins
    with pytest.raises(CampaignError) as bad:
        loads_campaign(campaign_text("broken"))
    assert bad.value.problems[0][0] == "instruments[1](m).kind"
    assert "missing_module_xyz" in bad.value.problems[0][1]


def test_the_cli_reports_a_broken_plugin_in_one_line(plugin_root: Path, tmp_path: Path) -> None:
    env = env_with_path(plugin_root)
    out = subprocess.run(labpilot_cmd("plugins"), env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    broken = [ln for ln in out.stdout.splitlines() if ln.strip().startswith("broken ")]
    assert len(broken) == 1 and "cannot be loaded" in broken[0] and "missing_module_xyz" in broken[0]
    assert "coercivity [Oe]" in out.stdout
    campaign = tmp_path / "broken.toml"
    campaign.write_text(campaign_text("broken"))
    out = subprocess.run(labpilot_cmd("validate", str(campaign)), env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "instruments[1](m).kind: cannot load instrument kind 'broken' from entry point labpilot.drivers" in out.stderr


def test_a_campaign_may_name_an_unpackaged_class(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    (lab / "mylab").mkdir(parents=True)
    (lab / "mylab" / "__init__.py").write_text("")
    (lab / "mylab" / "meter.py").write_text(COERCIVITY_METER)
    campaign = lab / "campaign.toml"
    campaign.write_text(campaign_text("mylab.meter:CoercivityMeter", objective="coercivity"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # the module sits next to the campaign file: no install, no PYTHONPATH, run from another folder
    out = subprocess.run(labpilot_cmd("validate", str(campaign)), cwd=elsewhere, env=env_with_path(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ok (campaign 'plug'" in out.stdout


@pytest.mark.parametrize("kind, reason", [
    ("nolab.nomodule:Probe", "class path nolab.nomodule:Probe: ModuleNotFoundError"),
    ("labpilot.drivers.magnetometer:NoSuchDriver", "AttributeError"),
    ("json:dumps", "is not a driver class"),
])
def test_a_class_path_that_is_not_a_driver_is_named(kind: str, reason: str) -> None:
    with pytest.raises(CampaignError) as bad:
        loads_campaign(campaign_text(kind))
    path, message = bad.value.problems[0]
    assert path == "instruments[1](m).kind" and reason in message and "\n" not in message


def test_planners_resolve_by_name_or_class_path() -> None:
    space = Space((ContinuousParam("x", 0.0, 1.0),))
    objectives = [Objective("y", "maximize")]
    planner = make_planner("labpilot.planners.random_planner:RandomPlanner", space, objectives, seed=3)
    assert type(planner).__name__ == "RandomPlanner"
    with pytest.raises(PlannerError, match=r"unknown planner 'bayes'; known planners: ae-bo, bo, boed"):
        make_planner("bayes", space, objectives)


def test_validate_and_plugins_do_not_import_torch(tmp_path: Path) -> None:
    campaign = tmp_path / "random.toml"
    campaign.write_text(campaign_text("magnetometer"))
    code = (
        "import sys, contextlib, io\n"
        "from labpilot.agent.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['validate', {str(campaign)!r}]) == 0\n"
        "    assert main(['plugins', '--json']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'labpilot.simulators.sputter_sim' not in sys.modules, 'a simulator was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=env_with_path())


def test_the_launcher_serves_a_class_path_kind_through_the_drivers_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    import serial

    from labpilot.simulators.process import SimulatorProcess

    monkeypatch.setenv("PYTHONPATH", env_with_path(EXAMPLE_SRC)["PYTHONPATH"])
    with SimulatorProcess("labpilot_fourpoint.probe:FourPointProbe", "--pty") as sim:
        port = serial.serial_for_url(sim.address, baudrate=9600, timeout=10)
        try:
            port.write(b"*IDN?\n")
            assert port.read_until(b"\n") == b"OHMTEK,FPP-4,SN0001,FW2.3a\r\n"
        finally:
            port.close()


def test_a_class_path_campaign_dry_runs_with_the_classes_own_simulators(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import REPO

    lab = tmp_path / "lab"
    shutil.copytree(EXAMPLE_SRC / "labpilot_fourpoint", lab / "labpilot_fourpoint")  # unpackaged, beside the file
    text = (REPO / "examples" / "labpilot-fourpoint" / "campaign.toml").read_text()
    text = text.replace('kind = "fourpoint-probe"', 'kind = "labpilot_fourpoint.probe:FourPointProbe"')
    text = text.replace('kind = "drop-xrd"', 'kind = "labpilot_fourpoint.diffractometer:DropDiffractometer"')
    text = text.replace('name = "bo"', 'name = "random"')
    assert text.count("labpilot_fourpoint.") == 2
    (lab / "campaign.toml").write_text(text)
    db = tmp_path / "run" / "c.db"
    db.parent.mkdir()
    out = subprocess.run(labpilot_cmd("run", str(lab / "campaign.toml"), "--dry-run", "--db", str(db),
                                      "--max-experiments", "2"),
                         cwd=db.parent, env=env_with_path(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "(labpilot_fourpoint.probe:FourPointProbe) pid" in out.stdout
    assert "experiments: 2 completed" in out.stdout and "sheet_resistance=" in out.stdout
    # an operator command re-reads the stored campaign: run from the campaign's folder, the classes import
    console = [str(Path(sys.executable).with_name("labpilot")), "queue", "--db", str(db)]
    queue = subprocess.run(console, cwd=lab, env=env_with_path(), capture_output=True, text=True, timeout=120)
    assert queue.returncode == 0, queue.stdout + queue.stderr
    elsewhere = subprocess.run(console, cwd=db.parent, env=env_with_path(), capture_output=True, text=True,
                               timeout=120)
    assert elsewhere.returncode != 0 and "Traceback" not in elsewhere.stderr
    assert "class path labpilot_fourpoint.probe:FourPointProbe: ModuleNotFoundError" in elsewhere.stderr
