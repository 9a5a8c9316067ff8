"""The incremental history split: the same arrays as a plain pass over the trials, whatever the edits between calls."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from labpilot.errors import PlannerError
from labpilot.planners import CategoricalParam, ContinuousParam, IntegerParam, Objective, Space, Trial
from labpilot.planners.encoding import _near, taken_mask
from labpilot.planners.history_split import ChangedTrials, HistorySplitter

SPACE = Space((ContinuousParam("x", 0.0, 2.0), IntegerParam("n", 1, 4), CategoricalParam("gas", ("Ar", "N2"))))
OBJECTIVES = [Objective("m"), Objective("r", "min")]
STATUSES = ("completed", "failed", "pending", "rejected")


def plain_split(history: list[Trial]) -> tuple[list, list, list, list, list, list[str]]:
    """The split written out directly, one trial at a time (the oracle)."""
    x, y, failed, pending, rejected, notes = [], [], [], [], [], []
    for i, t in enumerate(history):
        row = [float(t.params["x"]), float(t.params["n"]), float(("Ar", "N2").index(t.params["gas"]))]
        if t.status == "completed":
            vals = [t.values.get("m"), t.values.get("r")]
            if all(v is not None and np.isfinite(v) for v in vals):
                x.append(row)
                y.append(vals)
                continue
            notes.append(f"trial {i} ")
            failed.append(row)
        else:
            {"failed": failed, "pending": pending, "rejected": rejected}[t.status].append(row)
    return x, y, failed, pending, rejected, notes


def assert_same(data, history: list[Trial]) -> None:
    x, y, failed, pending, rejected, notes = plain_split(history)
    for got, want in ((data.x, x), (data.y, y), (data.failed, failed), (data.pending, pending), (data.rejected, rejected)):
        assert got.tolist() == want
    assert data.x.shape[1] == data.failed.shape[1] == data.pending.shape[1] == data.rejected.shape[1] == 3
    assert data.y.shape == (len(y), 2)
    assert len(data.notes) == len(notes)
    assert all(n.startswith(prefix) for n, prefix in zip(data.notes, notes))


trial_values = st.fixed_dictionaries(
    {},
    optional={"m": st.floats(-5, 5) | st.just(float("nan")), "r": st.floats(-5, 5) | st.just(float("inf"))},
)
trials = st.builds(
    Trial,
    params=st.fixed_dictionaries(
        {"x": st.floats(0, 2), "n": st.integers(1, 4), "gas": st.sampled_from(("Ar", "N2"))}),
    status=st.sampled_from(STATUSES),
    values=trial_values,
)


class SplitterAgainstAPlainPass(RuleBasedStateMachine):
    """One splitter, a history edited as the agent edits it (append, replace, start over), checked after every call."""

    def __init__(self) -> None:
        super().__init__()
        self.splitter = HistorySplitter(SPACE, OBJECTIVES)
        self.history: list[Trial] = []

    @rule(t=trials)
    def append(self, t: Trial) -> None:
        self.history = [*self.history, t]

    @precondition(lambda self: self.history)
    @rule(data=st.data(), t=trials)
    def replace(self, data: st.DataObject, t: Trial) -> None:
        i = data.draw(st.integers(0, len(self.history) - 1))
        self.history = [*self.history[:i], t, *self.history[i + 1:]]

    @precondition(lambda self: self.history)
    @rule(data=st.data())
    def shorter_history(self, data: st.DataObject) -> None:  # a caller reusing the planner on another history
        self.history = self.history[: data.draw(st.integers(0, len(self.history) - 1))]

    @invariant()
    def split_matches_a_plain_pass(self) -> None:
        assert_same(self.splitter.split(self.history), self.history)


TestSplitterAgainstAPlainPass = SplitterAgainstAPlainPass.TestCase
TestSplitterAgainstAPlainPass.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)


def test_only_new_and_replaced_positions_are_redone() -> None:
    history = [Trial({"x": 0.1 * i, "n": 1, "gas": "Ar"}, "pending") for i in range(50)]
    changes = ChangedTrials()
    trials, positions = changes.changed(history)
    assert positions == list(range(50))
    changes.commit(trials)
    history[7] = Trial(history[7].params, "completed", {"m": 1.0, "r": 0.0})
    history.append(Trial({"x": 1.9, "n": 2, "gas": "N2"}, "pending"))
    trials, positions = changes.changed(history)
    assert positions == [7, 50]  # not the 49 trials it has already seen
    changes.commit(trials)
    assert changes.changed(history)[1] == []


def test_a_bad_trial_is_named_and_redone_once_fixed() -> None:
    good = Trial({"x": 1.0, "n": 2, "gas": "Ar"}, "completed", {"m": 1.0, "r": 2.0})
    splitter = HistorySplitter(SPACE, OBJECTIVES)
    with pytest.raises(PlannerError, match="history trial 1 has unknown status 'done'"):
        splitter.split([good, Trial(good.params, "done")])
    with pytest.raises(PlannerError, match="history trial 1: cannot encode"):
        splitter.split([good, Trial({"x": 1.0, "n": 2, "gas": "He"}, "pending")])
    fixed = [good, Trial(good.params, "failed")]
    assert_same(splitter.split(fixed), fixed)


def test_the_arrays_handed_out_are_the_callers() -> None:
    splitter = HistorySplitter(SPACE, OBJECTIVES)
    history = [Trial({"x": 1.0, "n": 2, "gas": "Ar"}, "completed", {"m": 1.0, "r": 2.0})]
    splitter.split(history).x[:] = 99.0  # a planner scaling its copy in place
    assert_same(splitter.split(history), history)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_taken=st.integers(0, 600), n_cand=st.integers(0, 300))
def test_near_finds_exactly_the_pairs_an_all_against_all_check_finds(seed: int, n_taken: int, n_cand: int) -> None:
    """The windowed search (large inputs) agrees with comparing every pair, at and around the tolerance."""
    rng = np.random.default_rng(seed)
    span = np.array([2.0, 3.0, 1.0])
    taken = np.c_[rng.choice([0.5, 1.0, 1.5], n_taken) if seed % 2 else rng.uniform(0, 2, n_taken),
                  rng.integers(1, 5, n_taken), rng.integers(0, 2, n_taken)]
    if n_taken:
        cand = taken[rng.integers(0, n_taken, n_cand)]
        cand = cand + rng.choice([-1, 0, 1], cand.shape) * rng.choice([0.0, 0.5e-6, 0.99e-6, 1.01e-6, 3e-6], cand.shape) * span
        cand[::3] = np.c_[rng.uniform(0, 2, len(cand[::3])), rng.integers(1, 5, len(cand[::3])), rng.integers(0, 2, len(cand[::3]))]
    else:
        cand = np.c_[rng.uniform(0, 2, n_cand), rng.integers(1, 5, n_cand), rng.integers(0, 2, n_cand)]
    want = np.zeros(n_cand, dtype=bool)
    if n_cand and n_taken:
        want = (np.abs(cand[:, None, :] - taken[None]) / span).max(axis=2).__le__(1e-6).any(axis=1)
    assert _near(SPACE, cand, taken).tolist() == want.tolist()
    assert not (want & ~taken_mask(SPACE, cand, taken)).any()  # never re-proposed
