"""One Store shared by threads (parallel experiments): every write lands, no transaction collides."""

from __future__ import annotations

import threading
from pathlib import Path

from labpilot.agent import store as st
from labpilot.agent.store import Store

THREADS = 8
EACH = 40


def test_threads_write_and_read_one_store_without_collisions(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "c.db", "threads", {"name": "threads"}, "")
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                eid = store.add_experiment({"x": t + i / 100}, st.APPROVED, "initial")
                cid = f"c-{t}-{i}"
                store.command_sent(cid, eid, f"inst{t}", "measure")
                store.log_event("step", eid, thread=t)
                store.measurement_done(cid, eid, f"inst{t}", {"y": float(i)}, {})
                assert store.experiment(eid).scalars == {"y": float(i)}
                store.counts()
                store.commands("sent")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]
    again = Store.open(tmp_path / "c.db")  # what reached the file, read by a fresh connection
    assert len(again.experiments()) == THREADS * EACH
    assert not again.commands("sent")
    assert len(again.events(kind="step")) == THREADS * EACH
    assert len({c["id"] for c in again.commands("done")}) == THREADS * EACH
