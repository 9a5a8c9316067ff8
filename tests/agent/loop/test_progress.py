"""The progress line printed after each experiment."""

from labpilot.agent.loop.progress import Progress, format_progress


def test_a_progress_line_names_the_experiment_its_parameters_value_and_best() -> None:
    p = Progress(done=3, budget=20, experiment_id=7, chosen_by="planner", params={"Fe": 0.7, "phase": "bcc"},
                 value=1.23456, best=1.5, seconds=0.84, status="completed")
    assert format_progress(p, "moment") == "[  3/20] exp 7   planner  Fe=0.700 phase=bcc -> moment=1.235  best=1.5  (0.8s)"


def test_a_failed_experiment_says_failed() -> None:
    p = Progress(done=1, budget=5, experiment_id=1, chosen_by="initial", params={}, value=None, best=None,
                 seconds=2.0, status="failed")
    assert "-> failed" in format_progress(p, "moment") and "best" not in format_progress(p, "moment")
