"""The progress line printed after each experiment."""

from labpilot.agent.loop.progress import Progress, format_progress


def test_a_progress_line_names_the_experiment_its_parameters_value_and_best() -> None:
    p = Progress(done=3, budget=20, experiment_id=7, chosen_by="planner", params={"Fe": 0.7, "phase": "bcc"},
                 value=1.23456, best=1.5, seconds=0.84, status="completed", planning_s=20.12, instrument_s=1.7,
                 elapsed_s=65, eta_s=390)
    assert format_progress(p, "moment") == ("[  3/20] exp 7   planner  Fe=0.700 phase=bcc -> moment=1.235  best=1.5  "
                                            "(plan 20.1s, instruments 1.7s; elapsed 1m05s, ETA 6m30s)")


def test_no_eta_before_the_first_experiment_of_a_run_and_hours_are_short() -> None:
    p = Progress(done=1, budget=5, experiment_id=1, chosen_by="initial", params={}, value=1.0, best=1.0,
                 seconds=2.0, status="completed", elapsed_s=7300)
    line = format_progress(p, "moment")
    assert "ETA" not in line and "elapsed 2h01m" in line


def test_a_failed_experiment_says_failed() -> None:
    p = Progress(done=1, budget=5, experiment_id=1, chosen_by="initial", params={}, value=None, best=None,
                 seconds=2.0, status="failed")
    assert "-> failed" in format_progress(p, "moment") and "best" not in format_progress(p, "moment")


def test_parallel_execution_says_how_many_are_in_flight() -> None:
    p = Progress(done=4, budget=20, experiment_id=4, chosen_by="planner", params={}, value=1.0, best=1.0,
                 seconds=2.0, status="completed", elapsed_s=30, in_flight=3)
    assert "; 3 in flight; elapsed 30s" in format_progress(p, "moment")


def test_several_objectives_give_the_size_of_their_pareto_front_instead_of_one_best() -> None:
    p = Progress(done=9, budget=20, experiment_id=9, chosen_by="planner", params={}, value=1.0, best=1.5,
                 seconds=2.0, status="completed", elapsed_s=30, pareto_front=7)
    line = format_progress(p, "moment")
    assert "-> moment=1  Pareto front 7 points  (" in line and "best" not in line
    one = Progress(done=1, budget=20, experiment_id=1, chosen_by="initial", params={}, value=1.0, best=1.0,
                   seconds=2.0, status="completed", pareto_front=1)
    assert "Pareto front 1 point  (" in format_progress(one, "moment")


def test_the_pareto_front_respects_each_direction_over_any_number_of_objectives() -> None:
    from labpilot.agent.pareto import front_size

    results = [{"a": 1.0, "b": 1.0}, {"a": 2.0, "b": 2.0}, {"a": 3.0, "b": 0.5}, {"a": 0.5}]  # the last lacks b
    up = [{"name": "a", "direction": "maximize"}, {"name": "b", "direction": "maximize"}]
    assert front_size(results, up) == 2  # (2, 2) and (3, 0.5); (1, 1) is beaten by (2, 2)
    down = [{"name": "a", "direction": "maximize"}, {"name": "b", "direction": "minimize"}]
    assert front_size(results, down) == 1  # (3, 0.5) beats both others
    three = [*up, {"name": "c", "direction": "minimize"}]
    assert front_size([{**r, "c": c} for r, c in zip(results[:3], (0.0, 9.0, 9.0))], three) == 3
    assert front_size([], up) == 0


def _dominated(r: dict, others: list[dict], objectives: list[tuple[str, int]]) -> bool:
    """Plain Python, independent of the code under test: does any other result beat ``r``?"""
    return any(all(s * o[n] >= s * r[n] for n, s in objectives) and any(s * o[n] > s * r[n] for n, s in objectives)
               for o in others)


def test_a_two_objective_run_prints_the_pareto_front_in_its_progress_and_closing_summary(tmp_path) -> None:
    """A real dry run (simulated instruments) of the alloy campaign with a second, minimized objective."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    from labpilot.agent.store import Store

    repo = Path(__file__).resolve().parents[3]
    text = (repo / "campaigns" / "alloy_magnetization.toml").read_text()
    text = text.replace('name = "bo"', 'name = "random"').replace('acquisition = "qlognei"', "")
    text = text.replace('[[objectives]]', '[[objectives]]\nname = "peak_two_theta"\ndirection = "minimize"\n\n'
                                          '[[objectives]]', 1)
    camp = tmp_path / "two.toml"
    camp.write_text(text)
    db = tmp_path / "two.db"
    run = subprocess.run([sys.executable, "-m", "labpilot.agent.cli", "run", str(camp), "--dry-run", "--db", str(db),
                          "--max-experiments", "6", "--speed", "5000"], cwd=repo, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [x for x in run.stdout.splitlines() if re.match(r"\[\s*\d+/6\]", x)]
    assert len(lines) == 6 and not any("best=" in x for x in lines)
    sizes = [int(re.search(r"Pareto front (\d+) points?", x).group(1)) for x in lines]
    done = [e.scalars for e in Store.open(db).experiments() if e.status == "completed"]
    objectives = [("peak_two_theta", -1), ("magnetization", 1)]
    front = [r for r in done if not _dominated(r, done, objectives)]
    assert sizes[-1] == len(front) >= 1
    assert f"Pareto front {len(front)} point" in run.stdout.split(lines[-1], 1)[1]  # the closing summary
    assert "best peak_two_theta" not in run.stdout and "best magnetization" not in run.stdout
