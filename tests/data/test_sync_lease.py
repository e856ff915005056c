"""The sync lease (data.sync_lease): one holder per entity, all-or-nothing, taken over when its
heartbeat stops (another host) or its process is gone (this host), and a fence that stops a run
whose lease was taken. Clocks are injected: nothing here depends on the wall clock."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from data.models import SyncRun
from data.sync_lease import LeaseHeld, LeaseLost, acquire_leases, current_holders
from data.sync_state import begin_run

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def test_second_holder_is_refused_with_who_holds_it(engine: Engine) -> None:
    first = acquire_leases(engine, ["payments", "orders"], ttl=TTL, clock=lambda: T0, host="host-a", pid=11)
    run_id = begin_run(engine, "cli", first)

    with pytest.raises(LeaseHeld) as refused:
        acquire_leases(engine, ["payments"], ttl=TTL, clock=lambda: T0 + timedelta(seconds=5), host="host-b")

    assert refused.value.holder.entity == "payments"
    assert refused.value.holder.run_id == run_id
    assert refused.value.holder.host == "host-a"
    assert str(refused.value) == (
        f"another sync is running: payments is being synced by run #{run_id} on host-a (pid 11) since "
        "2026-11-20 06:00:00 UTC, last heartbeat 06:00:00 UTC"
    )
    first.release()
    again = acquire_leases(engine, ["payments"], ttl=TTL, clock=lambda: T0, host="host-b")
    assert [h.host for h in current_holders(engine, now=T0)] == ["host-b"]
    again.release()
    assert current_holders(engine, now=T0) == []


def test_all_or_nothing_a_refused_run_holds_no_entity(engine: Engine) -> None:
    acquire_leases(engine, ["payments"], ttl=TTL, clock=lambda: T0, host="host-a", pid=11)

    with pytest.raises(LeaseHeld):
        acquire_leases(engine, ["orders", "payments", "refunds"], ttl=TTL, clock=lambda: T0, host="host-b")

    assert [h.entity for h in current_holders(engine, now=T0)] == ["payments"]
    # disjoint entities run side by side
    orders = acquire_leases(engine, ["orders"], ttl=TTL, clock=lambda: T0, host="host-b")
    assert [h.entity for h in current_holders(engine, now=T0)] == ["orders", "payments"]
    orders.release()


def test_a_lease_whose_heartbeat_stopped_is_taken_over_and_the_old_run_is_fenced(engine: Engine) -> None:
    now = [T0]
    old = acquire_leases(engine, ["payments"], ttl=TTL, clock=lambda: now[0], host="host-a", pid=11)
    old_run = begin_run(engine, "cli", old)
    now[0] = T0 + timedelta(seconds=30)
    assert old.renew()  # a heartbeat moves the expiry to 06:01:30

    with pytest.raises(LeaseHeld):
        acquire_leases(engine, ["payments"], ttl=TTL, clock=lambda: T0 + timedelta(seconds=89), host="host-b")
    new = acquire_leases(
        engine, ["payments"], ttl=TTL, clock=lambda: T0 + timedelta(seconds=90), host="host-b"
    )
    new_run = begin_run(engine, "cli", new)

    with engine.connect() as conn:
        runs = dict(conn.execute(select(SyncRun.id, SyncRun.status)).all())
        error = conn.execute(select(SyncRun.error).where(SyncRun.id == old_run)).scalar_one()
    assert runs == {old_run: "failed", new_run: "running"}
    assert error is not None and error.startswith("abandoned")
    # the old run, still alive somewhere, can neither renew nor commit
    with engine.begin() as conn, pytest.raises(LeaseLost):
        old.fence(conn, "payments")
    assert not old.renew()
    assert old.lost.is_set()
    with engine.begin() as conn:
        new.fence(conn, "payments")
    assert [h.run_id for h in current_holders(engine, now=T0 + timedelta(seconds=90))] == [new_run]


def test_a_holder_on_this_host_whose_process_is_gone_is_taken_over_at_once(engine: Engine) -> None:
    here = socket.gethostname()
    acquire_leases(engine, ["payments"], ttl=TTL, clock=lambda: T0, host=here, pid=dead_pid())
    # the same dead pid on another host proves nothing about that host: it waits for the expiry
    acquire_leases(engine, ["orders"], ttl=TTL, clock=lambda: T0, host="host-a", pid=dead_pid())

    taken = acquire_leases(engine, ["payments"], ttl=TTL, clock=lambda: T0 + timedelta(seconds=1), host=here)
    with pytest.raises(LeaseHeld):
        acquire_leases(engine, ["orders"], ttl=TTL, clock=lambda: T0 + timedelta(seconds=1), host=here)

    assert {h.entity: h.host for h in current_holders(engine, now=T0)} == {
        "orders": "host-a",
        "payments": here,
    }
    taken.release()
