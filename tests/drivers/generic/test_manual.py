"""The ``manual`` driver and ``labpilot done``: requests and confirmations in a real campaign journal."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from labpilot.agent.campaign import loads_campaign
from labpilot.agent.operator import OperatorDesk
from labpilot.agent.report import campaign_status, format_status
from labpilot.agent.store import Store
from labpilot.drivers import open_instrument
from labpilot.drivers.generic.manual import STAND_IN, ManualDriver, ManualStandIn, pending_steps, step_outcome
from labpilot.errors import InstrumentError, OperatorRefused
from labpilot.protocols.capabilities import Sample
from tests.drivers.generic.manual_campaign import manual_campaign

PARAMS = {"power_w": 120.0, "pressure_pa": 0.4, "temperature_c": 250.0}


@pytest.fixture
def journal(tmp_path: Path) -> tuple[Path, Store, dict[str, Any]]:
    text = manual_campaign()
    camp = loads_campaign(text)
    db = tmp_path / "manual.db"
    store = Store.create(db, camp.name, camp.model_dump(mode="json"), text)
    hand = next(i for i in camp.instruments if i.name == "hand")
    yield db, store, dict(hand.options)
    store.close()


def _in_flight(store: Store, instrument: str = "hand") -> tuple[int, str]:
    eid = store.add_experiment(PARAMS, "measuring", "initial")
    cid = f"{store.campaign()['uid']}-e{eid}-{instrument}"
    store.command_sent(cid, eid, instrument, "measure")
    return eid, cid


def _start(driver: ManualDriver, cid: str) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(driver.measure(Sample("film-1", {"params": PARAMS}), cid))
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _wait_for(predicate: Any, what: str) -> None:
    for _ in range(600):
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"never happened: {what}")


def test_a_manual_measurement_waits_for_done_with_every_value(journal: tuple[Path, Store, dict]) -> None:
    db, store, options = journal
    eid, cid = _in_flight(store)
    driver = open_instrument("manual", "local", options={**options, "poll_s": 0.02})
    driver.attach_journal(db)
    assert driver.command_outcome(cid).state == "unknown"
    t, out = _start(driver, cid)
    _wait_for(lambda: pending_steps(store), "the request is journaled")
    step = pending_steps(store)[0]
    assert step["experiment"] == eid and step["instrument"] == "hand" and step["values"] == {
        "thickness": "nm", "defects": "count"}
    assert step["instructions"] == "Measure sample film-1 on the profilometer"
    assert driver.command_outcome(cid).state == "running"
    # visible: status says what waits, and how to confirm it
    line = format_status(campaign_status(store))
    assert f"WAITING FOR OPERATOR: experiment {eid} on hand (measure)" in line
    assert f"labpilot done {eid} --value thickness=NUMBER --value defects=NUMBER" in line

    desk = OperatorDesk(db)
    try:
        refusals = [
            ({}, "missing thickness, defects"),
            ({"thickness": 120.0}, "missing defects"),
            ({"thickness": "thick", "defects": 1}, "thickness='thick' is not a number"),
            ({"thickness": 1.0, "defects": 0, "colour": 3}, "does not take colour"),
        ]
        for values, expect in refusals:
            with pytest.raises(OperatorRefused, match=expect):
                desk.done(id=eid, values=values)
        with pytest.raises(OperatorRefused, match=f"experiment {eid + 1} has no manual step waiting"):
            desk.done(id=eid + 1, values={})
        assert t.is_alive() and not out  # nothing refused reached the driver
        reply = desk.done(id=eid, values={"thickness": 131.5, "defects": 2}, reason="profilometer 2")
    finally:
        desk.close()
    t.join(30)
    assert out[0].scalars == {"thickness": 131.5, "defects": 2.0}
    assert reply["by"].startswith("operator") and "recorded by operator" in reply["note"]
    done = step_outcome(store, cid)
    assert done["by"] == reply["by"] and done["values"] == {"thickness": 131.5, "defects": 2.0}
    # reconciled from the journal; a second call with the same id does not ask again
    assert driver.command_outcome(cid).state == "done"
    assert driver.measure(Sample("film-1", {"params": PARAMS}), cid).scalars["thickness"] == 131.5
    assert len(store.events(kind="manual_requested")) == 1 and not pending_steps(store)
    driver.close()


def test_a_step_that_could_not_be_done_fails_the_experiment(journal: tuple[Path, Store, dict]) -> None:
    db, store, options = journal
    eid, cid = _in_flight(store)
    driver = open_instrument("manual", "local", options={**options, "poll_s": 0.02})
    driver.attach_journal(db)
    t, out = _start(driver, cid)
    _wait_for(lambda: pending_steps(store), "the request is journaled")
    desk = OperatorDesk(db)
    with pytest.raises(OperatorRefused, match="--failed takes no --value"):
        desk.done(id=eid, values={"thickness": 1.0}, failed=True)
    desk.done(id=eid, values={}, failed=True, reason="the stylus broke")
    desk.close()
    t.join(30)
    assert isinstance(out[0], InstrumentError) and "the stylus broke" in str(out[0])
    assert driver.command_outcome(cid).state == "failed"
    driver.close()


def test_make_safe_stops_the_wait_and_keeps_the_request(journal: tuple[Path, Store, dict]) -> None:
    db, store, options = journal
    _, cid = _in_flight(store)
    driver = open_instrument("manual", "local", options={**options, "poll_s": 0.02})
    driver.attach_journal(db)
    t, out = _start(driver, cid)
    _wait_for(lambda: pending_steps(store), "the request is journaled")
    driver.make_safe()
    t.join(30)
    assert isinstance(out[0], InstrumentError) and "the request stays journaled" in str(out[0])
    assert pending_steps(store)[0]["command_id"] == cid
    # after a resume the same step waits again (made safe once is not made safe for ever), asked once
    t, out = _start(driver, cid)
    desk = OperatorDesk(db)
    desk.done(id=pending_steps(store)[0]["experiment"], values={"thickness": 1.0, "defects": 0})
    desk.close()
    t.join(30)
    assert out[0].scalars == {"thickness": 1.0, "defects": 0.0}
    assert len(store.events(kind="manual_requested")) == 1
    driver.close()


def test_the_dry_run_stand_in_confirms_with_plausible_values(journal: tuple[Path, Store, dict]) -> None:
    db, store, options = journal
    options = {**options, "dry_run": "confirm"}
    _, cid = _in_flight(store)
    stand_in = open_instrument("manual", "local", options=options, dry_run=True)
    assert type(stand_in) is ManualStandIn and ManualDriver.can_reconcile
    stand_in.attach_journal(db)
    m = stand_in.measure(Sample("film-1", {"params": PARAMS}), cid)
    assert 100.0 <= m.scalars["thickness"] <= 200.0 and 0.0 <= m.scalars["defects"] <= 3.0
    assert step_outcome(store, cid)["by"] == STAND_IN
    # the same command id draws the same values (a dry run is reproducible)
    assert ManualStandIn.plausible_values(stand_in, {"command_id": cid, "values": {"thickness": "nm"}}, PARAMS) == {
        "thickness": m.scalars["thickness"]}
    stand_in.close()


def test_a_manual_synthesizer_returns_a_sample_and_takes_no_values(tmp_path: Path) -> None:
    text = manual_campaign(manual_synthesizer=True)
    camp = loads_campaign(text)
    assert camp.synthesizer.name == "hand" and camp.measurers[0].name == "film"
    db = tmp_path / "synth.db"
    store = Store.create(db, camp.name, camp.model_dump(mode="json"), text)
    eid = store.add_experiment(PARAMS, "synthesizing", "initial")
    cid = f"{store.campaign()['uid']}-e{eid}-hand"
    store.command_sent(cid, eid, "hand", "synthesize")
    driver = open_instrument("manual", "local", options={"role": "synthesize", "poll_s": 0.02})
    driver.attach_journal(db)
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(driver.synthesize(PARAMS, cid)))
    t.start()
    _wait_for(lambda: pending_steps(store), "the request is journaled")
    desk = OperatorDesk(db)
    with pytest.raises(OperatorRefused, match=r"does not take thickness; it takes: none \(it makes a sample\)"):
        desk.done(id=eid, values={"thickness": 3.0})
    desk.done(id=eid, values={})
    desk.close()
    t.join(30)
    assert out[0].sample_id == cid and out[0].info["params"] == PARAMS
    driver.close()
    store.close()


def test_the_stand_in_can_take_its_values_from_a_model(journal: tuple[Path, Store, dict]) -> None:
    from tests.drivers.generic.manual_campaign import FILM

    db, store, _ = journal
    _, cid = _in_flight(store)
    options = {"role": "measure", "scalars": {"hardness": "GPa"}, "dry_run_model": f"{FILM}:truth"}
    with open_instrument("manual", "local", options=options, dry_run=True) as stand_in:
        stand_in.attach_journal(db)
        m = stand_in.measure(Sample("film-1", {"params": PARAMS}), cid)
    from labpilot.drivers.generic.python import resolve_function

    assert m.scalars == {"hardness": resolve_function(f"{FILM}:truth")(PARAMS)["hardness"]}
