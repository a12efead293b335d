"""What each write of an admission costs the API server and etcd, and the ceiling that
sets on issue 13's admission ratio on a machine the API server saturates.

``bench_admission.py`` compares the operator with a minimal client. On this bed the
API server, etcd, the controller manager, the operator and the benchmark's own
clients share two cores, so when the API server is the limit, throughput is about the
inverse of the API server's and etcd's CPU per admitted action. This measures that CPU
for each kind of request, alone, ``N`` requests with 16 in flight, ``ROUNDS`` times
(each round a fresh namespace, the kinds in the same order):

- ``create action``: the ``POST`` that creates an AsyncAction (the "new" case of the
  admission benchmark has these inside its clock; the minimal client's actions exist
  before its clock starts);
- ``status, bare`` and ``status, operator's``: the STARTING status patch, the minimal
  client's four fields against the status the operator's pure lifecycle decides
  (conditions, queue, message);
- ``Secret``, ``Job``: the other two writes of an admission;
- ``Event``: the ``Started`` Event (issue 16: one per transition).

Prints each round, the medians, and the ceilings they set: the minimal client's three
writes against the same writes plus the create and the Event (the "new" case), and
plus the Event alone (the backlog case). A ceiling leaves out the watches, the
controller manager and every client's own CPU, so the measured ratio sits below it.

    .venv/bin/python bench/bench_request_costs.py [N [ROUNDS]]   (default 500 3)
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from asyncaction.kube import KubeClient, paths
from asyncaction.lifecycle import job_name_for
from asyncaction.manifests import build_event, build_job, build_secret, new_secret_key
from asyncaction.timeutil import format_time, utcnow
from bench_admission import Cpu, operator_writes
from testbed import Bed, action_body, bulk, testbed

Call = Callable[[KubeClient], Any]
KINDS = (
    "create action",
    "status, bare",
    "status, operator's",
    "Secret",
    "Job",
    "Event",
)


def measure(bed: Bed, calls: list[Call]) -> float:
    """API server + etcd CPU milliseconds per call, ``calls`` run 16 at a time."""
    cpu = Cpu(bed)
    cpu.start()
    bulk(bed.kubeconfig, calls, limit=16)
    spent = cpu.stop()
    return 1000 * sum(spent.values()) / len(calls)


def one_round(bed: Bed, namespace: str, n: int) -> dict[str, float]:
    names = [f"a-{i:05d}" for i in range(2 * n)]  # half for each status variant

    def created(path: str, body: dict[str, Any]) -> Call:
        async def call(api: KubeClient) -> None:
            await api.create(path, body)

        return call

    creates = [created(paths.action_path(namespace), action_body(name)) for name in names]
    costs = {"create action": measure(bed, creates)}
    actions = bed.kube.list_actions(namespace)

    def status(action: dict[str, Any], *, as_operator: bool) -> Call:
        meta = action["metadata"]
        job_name = job_name_for(meta["name"], meta["uid"], 1)
        body: dict[str, Any] = (
            operator_writes(action)[0]
            if as_operator
            else {
                "phase": "STARTING",
                "attempts": 1,
                "jobName": job_name,
                "startedAt": format_time(utcnow()),
            }
        )
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": body}

        async def call(api: KubeClient) -> None:
            await api.patch(paths.action_path(namespace, meta["name"], status=True), patch)

        return call

    bare, rich = actions[:n], actions[n:]
    costs["status, bare"] = measure(bed, [status(a, as_operator=False) for a in bare])
    costs["status, operator's"] = measure(bed, [status(a, as_operator=True) for a in rich])

    costs["Secret"] = measure(
        bed,
        [created(paths.secret_path(namespace), build_secret(a, new_secret_key())) for a in bare],
    )
    jobs = [
        build_job(
            a,
            a["spec"]["template"],
            attempt=1,
            job_name=job_name_for(a["metadata"]["name"], a["metadata"]["uid"], 1),
            secret_name=f"{a['metadata']['name']}-key",
            hook_url="http://127.0.0.1:9/none",
        )
        for a in bare
    ]
    costs["Job"] = measure(bed, [created(paths.job_path(namespace), job) for job in jobs])
    events = [
        build_event(a, type="Normal", reason="Started", message="attempt 1 of 1", now=utcnow())
        for a in bare
    ]
    costs["Event"] = measure(bed, [created(paths.event_path(namespace), e) for e in events])
    return costs


def main(n: int, rounds: int) -> None:
    seen: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with testbed() as bed:
        for r in range(rounds):
            started = time.monotonic()
            costs = one_round(bed, bed.namespace(f"costs-{r}"), n)
            print(
                f"round {r + 1} ({time.monotonic() - started:.0f} s), API server + etcd CPU "
                "ms a request: " + ", ".join(f"{kind} {costs[kind]:.2f}" for kind in KINDS),
                flush=True,
            )
            for kind in KINDS:
                seen[kind].append(costs[kind])
    median = {kind: statistics.median(values) for kind, values in seen.items()}
    print(f"requests per kind and round: {n} ({2 * n} creates), rounds: {rounds}, 16 in flight")
    for kind in KINDS:
        low, high = min(seen[kind]), max(seen[kind])
        print(f"  {kind}: median {median[kind]:.2f} ms ({low:.2f} to {high:.2f})")
    minimal = median["status, bare"] + median["Secret"] + median["Job"]
    operator = median["status, operator's"] + median["Secret"] + median["Job"]
    new = operator + median["create action"] + median["Event"]
    backlog = operator + median["Event"]
    print(f"minimal client's three writes: {minimal:.2f} ms an action")
    print(
        f"ceiling on the admission ratio when the API server is the limit: new actions "
        f"{minimal / new:.2f} ({new:.2f} ms: the operator's writes, the create and the "
        f"Event), a backlog {minimal / backlog:.2f} ({backlog:.2f} ms: the writes and "
        "the Event)"
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args) if args else main(500, 3)
