"""Operator memory, CPU, sync time and idle requests with many existing actions.

For 1,000, 5,000 and 10,000 existing actions (half a backlog of QUEUED actions in a
suspended ActionQueue, half SUCCEEDED actions, every status already correct), the
operator is started fresh and the benchmark prints:

- the time from process start until its caches synced, and until it is idle again
  (every action reconciled once: its CPU time stops growing);
- its resident memory then (VmRSS) and at its peak (VmHWM), and its CPU seconds;
- the API writes it made (goal: none, every action is already correct);
- the API requests it made while idle for 20 s, watches excluded (goal: none).

    .venv/bin/python bench/bench_scale.py [COUNTS...]   (default 1000 5000 10000)
"""

from __future__ import annotations

import sys
import time

from asyncaction.api.phases import Phase
from asyncaction.kube import KubeClient, paths
from testbed import Bed, bulk, cpu_seconds, create_actions, rss_kib, settled_status, testbed, wait

RESOURCES = {"asyncactions", "actionqueues", "actiontemplates", "jobs", "pods", "secrets", "events"}


def grow(bed: Bed, namespace: str, have: int, want: int) -> None:
    half = (want - have) // 2
    queued = [f"q-{i:05d}" for i in range(have // 2, have // 2 + half)]
    done = [f"s-{i:05d}" for i in range(have // 2, have // 2 + half)]
    create_actions(
        bed, namespace, queued, settled_status(Phase.QUEUED, namespace, "held"), queue="held"
    )
    create_actions(bed, namespace, done, settled_status(Phase.SUCCEEDED, namespace, "default"))
    counts = {"QUEUED": have // 2 + half}

    async def queue_status(api: KubeClient) -> None:
        body = {"status": {"phaseCounts": counts, "active": 0}}
        await api.patch(paths.queue_path(namespace, "held", status=True), body)

    bulk(bed.kubeconfig, [queue_status])


def requests_of(bed: Bed, writes: bool) -> int:
    total = 0
    for (verb, resource, _), value in bed.requests().items():
        if resource not in RESOURCES or verb == "WATCH":
            continue
        if writes == (verb in {"POST", "PATCH", "PUT", "DELETE"}):
            total += value
    return total


def measure(bed: Bed, namespace: str, count: int) -> None:
    writes_before = requests_of(bed, writes=True)
    log_start = len(bed.operator_log())
    started = time.monotonic()
    pid = bed.start_operator(namespace, ASYNCACTION_POLL_SECONDS="300")
    synced = wait(
        lambda: "caches synced" in bed.operator_log()[log_start:], 600, "sync", interval=0.1
    )
    last = cpu_seconds(pid)
    while True:  # idle: under 0.05 s of CPU in a second
        time.sleep(1)
        now = cpu_seconds(pid)
        if now - last < 0.05:
            break
        last = now
    idle_after = time.monotonic() - started
    rss, peak, cpu = rss_kib(pid), rss_kib(pid, "VmHWM:"), cpu_seconds(pid)
    writes = requests_of(bed, writes=True) - writes_before
    reads_before = requests_of(bed, writes=False)
    time.sleep(20)
    idle_reads = requests_of(bed, writes=False) - reads_before
    bed.stop_operator()
    print(
        f"{count:>6} actions: synced {synced:5.1f} s, idle {idle_after:5.1f} s, "
        f"RSS {rss / 1024:5.0f} MiB (peak {peak / 1024:5.0f} MiB), CPU {cpu:5.1f} s, "
        f"writes {writes}, requests while idle 20 s {idle_reads}"
    )


def main(targets: list[int]) -> None:
    with testbed() as bed:
        namespace = bed.namespace("scale")
        # grow()'s backlog waits in it
        bed.kube.create_object(namespace, "actionqueues", "ActionQueue", "held", {"suspend": True})
        have = 0
        for want in targets:
            grow(bed, namespace, have, want)
            have = want
            measure(bed, namespace, want)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 5000, 10000])
