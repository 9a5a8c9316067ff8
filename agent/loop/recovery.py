"""Recovery without the instrument's memory: which instruments can reconcile, and what to tell the operator.

An instrument that can reconcile answers "what became of command id X" after
a restart, so the loop may send the same id again (it is never acted on
twice). One that cannot (``DriverBase.can_reconcile`` False, or
``reconcile = false`` in the instrument's options) never gets a command again
whose outcome is unknown: the experiment waits, ``outcome_unknown``, for an
operator's ``labpilot resolve``.
"""

from __future__ import annotations

from typing import Any

from labpilot import registry
from labpilot.agent import store as st
from labpilot.agent.campaign import InstrumentSpec
from labpilot.agent.store import Store


def reconciles(spec: InstrumentSpec) -> bool:
    """Whether the loop may ask this instrument what became of a command id (driver can, options allow).

    Anything but ``reconcile = true`` (the default) in the options counts as
    "cannot": a resend is never the guess.
    """
    return bool(getattr(registry.configured_class(spec.kind, spec.options), "can_reconcile", False)) and \
        spec.options.get("reconcile", True) is True


def unknown_outcomes(store: Store) -> list[dict[str, Any]]:
    """Every experiment whose outcome waits for an operator: ``{experiment, instrument, action, command_id}``."""
    out = []
    for exp in store.experiments((st.OUTCOME_UNKNOWN,)):
        cmd = store.unknown_command(exp.id) or {}
        out.append({"experiment": exp.id, "instrument": cmd.get("instrument"), "action": cmd.get("action"),
                    "command_id": cmd.get("id")})
    return out


def resolve_hint(item: dict[str, Any]) -> str:
    """The command line that settles one unknown outcome."""
    eid = item["experiment"]
    if item.get("action") == "synthesize":
        return f"labpilot resolve {eid} --made --sample SAMPLE_ID | --not-made | --failed"
    return f"labpilot resolve {eid} --made --value NAME=NUMBER ... | --not-made | --failed"


def describe(items: list[dict[str, Any]]) -> str:
    """One line for the fault: which experiments, which commands, and what to do."""
    parts = [f"experiment {i['experiment']} ({i['action']} on {i['instrument']}, command {i['command_id']})"
             for i in items]
    return (f"outcome unknown: {'; '.join(parts)}. The command was sent but never finished, and the "
            f"instrument cannot say what became of it: nothing is resent. Check the instrument, then "
            f"`labpilot resolve ID --made | --not-made | --failed`, then `labpilot resume`")
