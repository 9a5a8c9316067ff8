"""The campaign state machine (``transitions``), and its picture.

States follow DESIGN.md §2. The machine only says which moves are legal; the
runner decides when to make them and journals each one to the store before
acting. ``resume`` returns to the state recorded when the campaign was paused
or faulted, so a pause never loses its place in the loop.
"""

from __future__ import annotations

from typing import Any, Callable

from transitions import Machine, MachineError

IDLE = "idle"
PLANNING = "planning"
AWAITING_APPROVAL = "awaiting_approval"
SYNTHESIZING = "synthesizing"
MEASURING = "measuring"
LEARNING = "learning"
PAUSED = "paused"
FAULTED = "faulted"
COMPLETED = "completed"
ABORTED = "aborted"

STATES = [IDLE, PLANNING, AWAITING_APPROVAL, SYNTHESIZING, MEASURING, LEARNING, PAUSED, FAULTED, COMPLETED, ABORTED]
WORKING = [PLANNING, AWAITING_APPROVAL, SYNTHESIZING, MEASURING, LEARNING]
TERMINAL = [COMPLETED, ABORTED]

__all__ = ["CampaignMachine", "MachineError", "STATES", "WORKING", "TERMINAL"]


class CampaignMachine:
    """The legal moves of one campaign.

    ``on_change(old, new, trigger)`` is called after every transition so the
    owner can journal it. Illegal triggers raise ``transitions.MachineError``.
    """

    def __init__(self, initial: str = IDLE, on_change: Callable[[str, str, str], None] | None = None) -> None:
        if initial not in STATES:
            raise ValueError(f"unknown state {initial!r}; states are {STATES}")
        self.on_change = on_change
        self.resume_to: str = PLANNING
        # ``transitions`` binds its dynamic trigger methods onto this holder;
        # this class calls them through typed methods instead (see below).
        self._model = _StateHolder()
        self._paths: dict[tuple[str, str], list[str]] = {}  # path_to's answers, by (from, to)
        self.machine = Machine(
            model=self._model,
            states=STATES,
            initial=initial,
            auto_transitions=False,
            send_event=True,
            after_state_change=[self._changed],
        )
        add = self.machine.add_transition
        add("start", IDLE, PLANNING)
        add("propose", PLANNING, AWAITING_APPROVAL)
        add("approve", AWAITING_APPROVAL, SYNTHESIZING)
        add("reject", AWAITING_APPROVAL, PLANNING)
        add("synthesize", [PLANNING, LEARNING, AWAITING_APPROVAL], SYNTHESIZING)
        add("measure", SYNTHESIZING, MEASURING)
        add("learn", MEASURING, LEARNING)
        add("plan", [LEARNING, SYNTHESIZING, MEASURING], PLANNING)
        add("finish", [PLANNING, LEARNING], COMPLETED)
        add("pause", WORKING, PAUSED, before=[self._remember])
        add("fault", WORKING + [PAUSED], FAULTED, before=[self._remember_unless_paused])
        for target in WORKING:
            add("resume", [PAUSED, FAULTED], target, conditions=[self._going_to(target)])
        add("abort", [IDLE, *WORKING, PAUSED, FAULTED], ABORTED)

    @property
    def state(self) -> str:
        return self._model.state

    # triggers: each returns True when the transition happened and raises
    # ``MachineError`` when it is illegal from the current state -------------
    def _fire(self, trigger: str) -> bool:
        return bool(self.machine.events[trigger].trigger(self._model))

    def start(self) -> bool:
        return self._fire("start")

    def propose(self) -> bool:
        return self._fire("propose")

    def approve(self) -> bool:
        return self._fire("approve")

    def reject(self) -> bool:
        return self._fire("reject")

    def synthesize(self) -> bool:
        return self._fire("synthesize")

    def measure(self) -> bool:
        return self._fire("measure")

    def learn(self) -> bool:
        return self._fire("learn")

    def plan(self) -> bool:
        return self._fire("plan")

    def finish(self) -> bool:
        return self._fire("finish")

    def pause(self) -> bool:
        return self._fire("pause")

    def fault(self) -> bool:
        return self._fire("fault")

    def resume(self) -> bool:
        return self._fire("resume")

    def abort(self) -> bool:
        return self._fire("abort")

    # transitions callbacks -------------------------------------------------
    def _remember(self, event: Any) -> None:
        self.resume_to = event.transition.source

    def _remember_unless_paused(self, event: Any) -> None:
        if event.transition.source != PAUSED:
            self.resume_to = event.transition.source

    def _changed(self, event: Any) -> None:
        if self.on_change is not None:
            self.on_change(event.transition.source, event.transition.dest, event.event.name)

    def _going_to(self, target: str) -> Callable[[Any], bool]:
        def check(event: Any) -> bool:
            return self.resume_to == target

        check.__name__ = f"resume_to_{target}"
        return check

    # helpers ---------------------------------------------------------------
    def can(self, trigger: str) -> bool:
        """Whether ``trigger`` is legal from the current state."""
        return trigger in self.machine.get_triggers(self.state)

    def path_to(self, target: str) -> list[str]:
        """The shortest list of loop triggers leading from the current state to ``target``.

        Only the loop's own moves count (not pause, fault, resume, abort or
        finish). After a resume the machine is back where it stopped, which
        need not be where the store says the next experiment stands (e.g. a
        measurement that failed: its sample is lost and the next one is
        synthesized); the runner walks this path instead of assuming one move.
        Raises ``MachineError`` if ``target`` cannot be reached.
        """
        key = (self.state, target)
        path = self._paths.get(key)
        if path is None:  # the transitions never change after __init__: each path is searched once
            path = self._paths[key] = self._search(target)
        return list(path)

    def _search(self, target: str) -> list[str]:
        skip = {"pause", "fault", "resume", "abort", "finish"}
        frontier: list[tuple[str, list[str]]] = [(self.state, [])]
        seen = {self.state}
        edges = self.edges()
        while frontier:
            state, path = frontier.pop(0)
            if state == target:
                return path
            for source, dest, trigger in edges:
                if source == state and trigger not in skip and dest not in seen:
                    seen.add(dest)
                    frontier.append((dest, path + [trigger]))
        raise MachineError(f"no path from {self.state!r} to {target!r}")

    def enter(self, target: str) -> None:
        """Move to ``target`` through legal loop transitions (each journaled); nothing if already there."""
        if self._model.state == target:
            return
        for trigger in self.path_to(target):
            self._fire(trigger)

    def mermaid(self) -> str:
        """A mermaid state diagram generated from the machine's own transitions."""
        lines = ["stateDiagram-v2", f"    [*] --> {IDLE}"]
        seen = set()
        for trigger, event in self.machine.events.items():
            for source, transitions in event.transitions.items():
                for t in transitions:
                    key = (source, t.dest, trigger)
                    if key not in seen:
                        seen.add(key)
                        lines.append(f"    {source} --> {t.dest}: {trigger}")
        for s in TERMINAL:
            lines.append(f"    {s} --> [*]")
        return "\n".join(lines) + "\n"

    def edges(self) -> list[tuple[str, str, str]]:
        """(source, dest, trigger) for every transition, for drawing."""
        out = []
        for trigger, event in self.machine.events.items():
            for source, transitions in event.transitions.items():
                for t in transitions:
                    out.append((source, t.dest, trigger))
        return sorted(set(out))



class _StateHolder:
    """The object ``transitions`` drives: it holds ``state`` (and the dynamic methods nobody calls)."""

    state: str
