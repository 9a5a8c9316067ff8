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
