"""Checks of a campaign that depend on more than the file: installed code, the clock, the environment.

``Campaign`` (``agent/campaign.py``) checks what a file says on its own;
these checks need what the drivers and the planner declare
(``agent/campaign_checks.py``), the present moment (a deadline already
past), the environment (a control token) or the files it names. They are
kept out of the model because a stored campaign is re-parsed later, by the
agent and by operator commands, where a passed deadline or another user's
environment must not make it unreadable.

``labpilot validate`` calls ``preflight``; ``labpilot run`` runs the same
declaration checks once on the campaign file (resumed or new) and the
clock and environment checks on a new campaign, so ``run`` refuses nothing
that ``validate`` accepted for a reason it could know.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from labpilot.errors import CampaignError
from labpilot.agent.campaign import Campaign


def preflight(campaign: Campaign, *, now: dt.datetime | None = None,
              declarations: bool = True) -> list[tuple[str, str]]:
    """Every problem found, as (field path, reason); empty when the campaign can run.

    ``declarations=False`` leaves out ``campaign_checks`` (a caller that ran them already).
    """
    from labpilot.agent import campaign_checks

    problems: list[tuple[str, str]] = campaign_checks.problems(campaign) if declarations else []
    problems += _deadline(campaign, now)
    problems += _control(campaign)
    return problems


def check(campaign: Campaign, source: str, *, now: dt.datetime | None = None, declarations: bool = True) -> None:
    """Raise ``CampaignError`` listing the preflight problems, if any."""
    problems = preflight(campaign, now=now, declarations=declarations)
    if problems:
        raise CampaignError(source, problems)


def _deadline(c: Campaign, now: dt.datetime | None) -> list[tuple[str, str]]:
    deadline = c.budget.deadline
    if deadline is None:
        return []
    if now is None:
        now = c.budget.now()
    if deadline <= now:
        return [("budget.deadline", f"{deadline.isoformat()} is already past (now {now.isoformat(timespec='seconds')})")]
    return []


def _control(c: Campaign) -> list[tuple[str, str]]:
    from labpilot.agent.control.auth import is_loopback_endpoint, token_from_env

    spec = c.control
    problems: list[tuple[str, str]] = []
    for field in ("token_file", "curve_secret_file"):
        value = getattr(spec, field)
        if value is not None and not Path(value).is_file():
            problems.append((f"control.{field}", f"{value!r} does not exist"))
    if spec.curve_clients_dir is not None and not Path(spec.curve_clients_dir).is_dir():
        problems.append(("control.curve_clients_dir", f"{spec.curve_clients_dir!r} is not a directory"))
    if not is_loopback_endpoint(spec.endpoint) and not spec.authenticated and token_from_env(dict(os.environ)) is None:
        problems.append(("control.endpoint", f"{spec.endpoint!r} is reachable from the network: binding beyond "
                                             "loopback needs control.token_file, CURVE keys with curve_clients_dir, "
                                             "or LABPILOT_CONTROL_TOKEN; bind tcp://127.0.0.1:PORT for local control"))
    return problems
