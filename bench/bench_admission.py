"""Admission throughput: the operator against a minimal client making the same writes.

In one run on one private test bed (no node agent: Jobs stay pending, so only admission
is measured):

1. the minimal client: for 500 existing actions, with 16 requests in flight (the
   operator's default 16 workers), create the Secret, create the Job and patch the status
   to STARTING — the least any controller must write to admit an action;
2. the operator (running, caches synced): 500 new actions are created (16 creates in
   flight) and the clock runs until every one is STARTING with its Job;
3. the operator started on a backlog of 500 existing, never-seen actions: from the
   moment its caches synced until every one is STARTING with its Job.

Prints each rate and the ratio operator / minimal client (goal: at least 0.8).

    .venv/bin/python bench/bench_admission.py [N]   (default 500)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from asyncaction.kube import KubeClient, paths
from asyncaction.lifecycle import job_name_for
from asyncaction.manifests import build_job, build_secret, new_secret_key
from asyncaction.timeutil import format_time, utcnow
from testbed import Bed, bulk, create_actions, phases, testbed, wait


def minimal_admission(bed: Bed, namespace: str, n: int) -> float:
    names = [f"m-{i:05d}" for i in range(n)]
    create_actions(bed, namespace, names)
    actions = bed.kube.list_actions(namespace)

    def admit(action: dict[str, Any]) -> Callable[[KubeClient], Any]:
        async def call(api: KubeClient) -> None:
            meta = action["metadata"]
            secret = build_secret(action, new_secret_key())
            await api.create(paths.secret_path(namespace), secret)
            job_name = job_name_for(meta["name"], meta["uid"], 1)
            job = build_job(
                action,
                action["spec"]["template"],
                attempt=1,
                job_name=job_name,
                secret_name=secret["metadata"]["name"],
                hook_url="http://127.0.0.1:9/none",
            )
            await api.create(paths.job_path(namespace), job)
            status = {"phase": "STARTING", "attempts": 1, "jobName": job_name}
            status["startedAt"] = format_time(utcnow())
            body = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}
            await api.patch(paths.action_path(namespace, meta["name"], status=True), body)

        return call

    started = time.monotonic()
    bulk(bed.kubeconfig, [admit(a) for a in actions], limit=16)
    return time.monotonic() - started


def all_started(bed: Bed, namespace: str, n: int) -> Callable[[], bool]:
    def check() -> bool:
        if phases(bed, namespace)["STARTING"] < n:
            return False
        return len(bed.kube.batch.list_namespaced_job(namespace).items) >= n

    return check


def operator_on_new(bed: Bed, namespace: str, n: int) -> tuple[float, float]:
    bed.start_operator(namespace)
    wait(lambda: "caches synced" in bed.operator_log(), 60, "the operator to sync")
    started = time.monotonic()
    create_actions(bed, namespace, [f"o-{i:05d}" for i in range(n)])
    created = time.monotonic() - started
    wait(all_started(bed, namespace, n), 600, "all STARTING", interval=0.25)
    elapsed = time.monotonic() - started
    bed.stop_operator()
    return elapsed, created


def operator_on_backlog(bed: Bed, namespace: str, n: int) -> float:
    create_actions(bed, namespace, [f"b-{i:05d}" for i in range(n)])
    log_before = len(bed.operator_log())
    bed.start_operator(namespace)
    wait(lambda: "caches synced" in bed.operator_log()[log_before:], 120, "sync", interval=0.05)
    started = time.monotonic()
    wait(all_started(bed, namespace, n), 600, "all STARTING", interval=0.25)
    elapsed = time.monotonic() - started
    bed.stop_operator()
    return elapsed


def main(n: int) -> None:
    with testbed() as bed:
        minimal = minimal_admission(bed, bed.namespace("minimal"), n)
        new, created = operator_on_new(bed, bed.namespace("operated"), n)
        backlog = operator_on_backlog(bed, bed.namespace("backlog"), n)
    print(f"actions: {n}")
    print(f"minimal client (3 writes each, 16 in flight): {minimal:.2f} s, {n / minimal:.0f}/s")
    print(
        f"operator, new actions (creates took {created:.2f} s): {new:.2f} s, {n / new:.0f}/s, "
        f"ratio {minimal / new:.2f}"
    )
    print(
        f"operator, backlog after sync: {backlog:.2f} s, {n / backlog:.0f}/s, "
        f"ratio {minimal / backlog:.2f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
