"""Takeover at scale: how long admission stops when the leader goes, cold and warm standby.

N existing actions (as ``bench_scale.py``: half QUEUED in a suspended ActionQueue, half
SUCCEEDED, every status already correct) in one namespace; two operator processes
serve it. For each mode, the first leads, the second stands by: cold (the default,
holding nothing) or warm (``ASYNCACTION_WARM_STANDBY=true``). The leader is then
stopped with SIGTERM, which releases the Lease (a SIGKILL adds the Lease's 15 s to both
modes), and once the standby opened admission one new action is created in a free
queue. The benchmark prints:

- how long after the SIGTERM the standby led, and opened admission (a cold standby
  syncs first): the time nothing is admitted; then how long a new action waited for
  its admission (status STARTING, Job created);
- the standby's resident memory while standing by (what warm costs), and after;
- the API writes the standby made while standing by (goal: none in either mode).

    .venv/bin/python bench/bench_takeover.py [N]    (default 10000, as `make bench` runs it;
                                                     docs/performance.md: 100000)
"""

from __future__ import annotations

import os
import signal
import sys
import time

from asyncaction_testbed import procs
from bench_scale import grow, requests_of
from testbed import Bed, action_body, rss_kib, testbed, wait

MODES = ("cold", "warm")


def operator(bed: Bed, name: str, namespace: str, warm: bool) -> int:
    """An operator process named ``name`` (its log: ``procs.log_file``)."""
    warmth = {"ASYNCACTION_WARM_STANDBY": "true"} if warm else {}
    return bed.start_operator(namespace, name, ASYNCACTION_POLL_SECONDS="300", **warmth)


def takeover(bed: Bed, namespace: str, mode: str, count: int) -> None:
    warm = mode == "warm"
    leader, standby = f"leader-{mode}", f"standby-{mode}"
    # what a replica logs when it opens admission: a warm one as it leads, a cold one
    # once it synced after leading
    opened = "leading with warm caches" if warm else "caches synced"
    try:
        operator(bed, leader, namespace, warm)
        synced = wait(lambda: opened in bed.operator_log(leader), 900, f"{leader} to lead", 0.5)
        writes_before = requests_of(bed, writes=True)
        pid = operator(bed, standby, namespace, warm)
        started = time.monotonic()
        if warm:
            wait(lambda: "caches synced" in bed.operator_log(standby), 900, "the standby's sync")
        ready = time.monotonic() - started  # a cold standby holds nothing: ready at once
        time.sleep(10)  # settled: the standby's memory as it stands by
        standing_rss = rss_kib(pid)
        standby_writes = requests_of(bed, writes=True) - writes_before
        leader_pid = procs.read_pid(bed.state, leader)
        assert leader_pid is not None
        os.kill(leader_pid, signal.SIGTERM)  # it releases the Lease as it stops
        stopped = time.monotonic()
        wait(lambda: "leading as" in bed.operator_log(standby), 120, "the standby to lead", 0.05)
        led = time.monotonic() - stopped
        wait(lambda: opened in bed.operator_log(standby), 900, "admission to open", 0.05)
        open_after = time.monotonic() - stopped
        procs.stop(bed.state, leader, timeout=60)
        name = f"probe-{mode}"
        bed.kube.create_action(namespace, action_body(name))
        created = time.monotonic()

        def admitted() -> bool:
            action = bed.kube.get_action(namespace, name)
            return (action.get("status") or {}).get("phase") == "STARTING"

        wait(admitted, 120, "the probe action to be admitted", 0.05)
        admitted_in = time.monotonic() - created
        after_rss = rss_kib(pid)
        print(
            f"{mode:>4} standby, {count} actions: leader synced in {synced:.1f} s; standby "
            f"ready in {ready:.1f} s, RSS {standing_rss / 1024:.0f} MiB standing by, "
            f"{standby_writes} API writes meanwhile; after SIGTERM to the leader: leading in "
            f"{led:.1f} s, admission open in {open_after:.1f} s (a new action then admitted "
            f"in {admitted_in:.2f} s); "
            f"RSS then {after_rss / 1024:.0f} MiB",
            flush=True,
        )
    finally:
        for name in (leader, standby):
            procs.stop(bed.state, name, timeout=60)


def main(count: int) -> None:
    with testbed() as bed:
        namespace = bed.namespace("takeover")
        # grow()'s backlog waits in it
        bed.kube.create_object(namespace, "actionqueues", "ActionQueue", "held", {"suspend": True})
        started = time.monotonic()
        grow(bed, namespace, 0, count)
        print(f"created {count} actions in {time.monotonic() - started:.0f} s", flush=True)
        for mode in MODES:
            takeover(bed, namespace, mode, count)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
