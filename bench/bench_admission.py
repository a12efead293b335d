"""Admission throughput: the operator against a minimal client making the same writes.

On one private test bed (no node agent: Jobs stay pending, so only admission is
measured), ROUNDS times, interleaved so both see the same machine load:

1. the minimal client: for N existing actions, with as many requests in flight as the
   operator has workers, create the Secret, create the Job and patch the status to
   STARTING: the least any controller must write to admit an action;
2. the operator (running, caches synced): N new actions are created (16 creates in
   flight) and the clock runs until every one has its Job (its STARTING status is
   written before the Job; checked at the end);
3. the operator started on a backlog of N existing, never-seen actions: from the
   moment its caches synced until every one has its Job.

Each round also runs the minimal client once more making **the operator's writes**: the
status the operator's pure lifecycle decides (its conditions, queue and message, seven
times the bytes of the bare STARTING patch) and the Event it queues, besides the Secret
and the Job. Against that client the ratio shows the operator's own overhead (caches,
watches, reconciles) apart from what the product chose to write (issue 16's conditions
and Events).

Prints each round and the medians, and the ratio operator / minimal client (goal: at
least 0.8). Throughput on a shared 2-core machine moves with its load, so each round
also prints CPU milliseconds per admitted action (from /proc, so steadier): the
operator's and the API server's (etcd's too), against the minimal client's API server
cost. What the operator costs the API server beyond the minimal client's is what the
controller's own watches and extra writes take from the shared cores.

    .venv/bin/python bench/bench_admission.py [N [ROUNDS]]   (default 500 3)
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from asyncaction.kube import KubeClient, paths
from asyncaction.lifecycle import Emit, LifecycleSettings, job_name_for, reconcile
from asyncaction.lifecycle.views import admission_view_from
from asyncaction.manifests import build_event, build_job, build_secret, new_secret_key
from asyncaction.settings import OperatorSettings
from asyncaction.timeutil import format_time, utcnow
from asyncaction_testbed import procs
from testbed import Bed, bulk, cpu_seconds, create_actions, phases, testbed, wait

SETTINGS = OperatorSettings.from_env()
WORKERS = SETTINGS.workers
SERVERS = ("kube-apiserver", "etcd")


class Cpu:
    """CPU seconds the named processes spent between ``start`` and ``stop``."""

    def __init__(self, bed: Bed, operator: int | None = None) -> None:
        self.pids = {name: procs.read_pid(bed.plane.state, name) for name in SERVERS}
        if operator is not None:
            self.pids["operator"] = operator
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items() if pid is not None}

    def start(self) -> None:
        self.spent = self._now()

    def stop(self) -> dict[str, float]:
        now = self._now()
        self.spent = {name: now[name] - self.spent[name] for name in now}
        return self.spent


def per_action_ms(spent: dict[str, float], n: int) -> str:
    return ", ".join(f"{name} {1000 * seconds / n:.1f}" for name, seconds in spent.items())


LIFECYCLE = LifecycleSettings(
    backoff_base_seconds=SETTINGS.backoff_base_seconds,
    backoff_max_seconds=SETTINGS.backoff_max_seconds,
    poll_seconds=SETTINGS.poll_seconds,
)


def operator_writes(action: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The STARTING status and the Events the operator writes to admit ``action``."""
    now = utcnow()
    view = admission_view_from(action, has_handler=True)
    decision = reconcile(view, None, now=now, admitted=True, settings=LIFECYCLE)
    if decision.status.get("phase") != "STARTING":
        raise SystemExit(f"the lifecycle does not admit {action['metadata']['name']}: {decision}")
    events = [
        build_event(action, type=e.type, reason=e.reason, message=e.message, now=now)
        for e in decision.effects
        if isinstance(e, Emit)
    ]
    return decision.status, events


def minimal_admission(
    bed: Bed, namespace: str, n: int, cpu: Cpu, *, as_operator: bool = False
) -> float:
    """``as_operator``: write the operator's status and Events, not the bare patch."""
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
            events: list[dict[str, Any]] = []
            if as_operator:
                status, events = operator_writes(action)
            body = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}
            await api.patch(paths.action_path(namespace, meta["name"], status=True), body)
            for event in events:
                await api.create(paths.event_path(namespace), event)

        return call

    started = time.monotonic()
    cpu.start()
    bulk(bed.kubeconfig, [admit(a) for a in actions], limit=WORKERS)
    elapsed = time.monotonic() - started
    cpu.stop()
    return elapsed


def job_count(bed: Bed, namespace: str) -> int:
    """How many Jobs exist, cheaply: one item and the server's count of the rest."""
    page = bed.kube.batch.list_namespaced_job(namespace, limit=1)
    return len(page.items) + (page.metadata.remaining_item_count or 0)


def all_started(bed: Bed, namespace: str, n: int) -> Callable[[], bool]:
    """Every action has its Job (its STARTING status is written before the Job)."""
    return lambda: job_count(bed, namespace) >= n


def check_all_starting(bed: Bed, namespace: str, n: int) -> None:
    seen = phases(bed, namespace)
    if seen["STARTING"] != n:
        raise SystemExit(f"expected {n} STARTING, saw {seen}")


def operator_on_new(bed: Bed, namespace: str, n: int) -> tuple[float, float, Cpu]:
    log_before = len(bed.operator_log())
    cpu = Cpu(bed, bed.start_operator(namespace))
    wait(lambda: "caches synced" in bed.operator_log()[log_before:], 60, "sync", interval=0.05)
    started = time.monotonic()
    cpu.start()  # the API server's share includes the benchmark's own creates
    create_actions(bed, namespace, [f"o-{i:05d}" for i in range(n)])
    created = time.monotonic() - started
    wait(all_started(bed, namespace, n), 600, "all STARTING", interval=0.05)
    elapsed = time.monotonic() - started
    cpu.stop()
    bed.stop_operator()
    check_all_starting(bed, namespace, n)
    return elapsed, created, cpu


def operator_on_backlog(bed: Bed, namespace: str, n: int) -> tuple[float, Cpu]:
    create_actions(bed, namespace, [f"b-{i:05d}" for i in range(n)])
    log_before = len(bed.operator_log())
    cpu = Cpu(bed, bed.start_operator(namespace))
    wait(lambda: "caches synced" in bed.operator_log()[log_before:], 120, "sync", interval=0.05)
    started = time.monotonic()
    cpu.start()
    wait(all_started(bed, namespace, n), 600, "all STARTING", interval=0.05)
    elapsed = time.monotonic() - started
    cpu.stop()
    bed.stop_operator()
    check_all_starting(bed, namespace, n)
    return elapsed, cpu


def main(n: int, rounds: int) -> None:
    results: dict[str, list[float]] = {"minimal": [], "same": [], "new": [], "backlog": []}
    with testbed() as bed:
        for r in range(rounds):
            minimal_cpu = Cpu(bed)
            minimal = minimal_admission(bed, bed.namespace(f"minimal-{r}"), n, minimal_cpu)
            same_cpu = Cpu(bed)
            same = minimal_admission(bed, bed.namespace(f"same-{r}"), n, same_cpu, as_operator=True)
            new, created, new_cpu = operator_on_new(bed, bed.namespace(f"operated-{r}"), n)
            backlog, backlog_cpu = operator_on_backlog(bed, bed.namespace(f"backlog-{r}"), n)
            print(
                f"round {r + 1}: minimal {n / minimal:.0f}/s, minimal with the operator's "
                f"writes {n / same:.0f}/s, operator on new {n / new:.0f}/s "
                f"(creates took {created:.2f} s), on a backlog {n / backlog:.0f}/s\n"
                f"  CPU ms per action: minimal [{per_action_ms(minimal_cpu.spent, n)}]; "
                f"with the operator's writes [{per_action_ms(same_cpu.spent, n)}]; "
                f"new [{per_action_ms(new_cpu.spent, n)}]; "
                f"backlog [{per_action_ms(backlog_cpu.spent, n)}]"
            )
            results["minimal"].append(minimal)
            results["same"].append(same)
            results["new"].append(new)
            results["backlog"].append(backlog)
    minimal, same, new, backlog = (
        statistics.median(results[k]) for k in ("minimal", "same", "new", "backlog")
    )
    print(f"actions: {n}, rounds: {rounds}, concurrency: {WORKERS} (the operator's workers)")
    print(f"minimal client, median: {minimal:.2f} s, {n / minimal:.0f}/s")
    print(f"minimal client making the operator's writes, median: {same:.2f} s, {n / same:.0f}/s")
    print(
        f"operator, new actions, median: {new:.2f} s, {n / new:.0f}/s, ratio {minimal / new:.2f} "
        f"({same / new:.2f} against the operator's writes)"
    )
    print(
        f"operator, backlog after sync, median: {backlog:.2f} s, {n / backlog:.0f}/s, "
        f"ratio {minimal / backlog:.2f} ({same / backlog:.2f} against the operator's writes)"
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(args[0] if args else 500, args[1] if len(args) > 1 else 3)
