"""End to end: N trivial actions to SUCCEEDED beside N plain Jobs through the same node.

Both batches run the same command (``true``) through the same Job controller and node
agent; the plain Jobs show what the cluster itself can do, so the difference is the
operator's share. Run one after the other on one private test bed.

    .venv/bin/python bench/bench_e2e.py [N]   (default 100)
"""

from __future__ import annotations

import sys
import time

from kubernetes import client

from testbed import create_actions, phases, testbed, wait


def plain_job(name: str) -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="m", image="x", command=["true"])],
                )
            ),
        ),
    )


def main(n: int) -> None:
    with testbed() as bed:
        bed.start_node_agent()
        jobs_ns = bed.namespace("plain")
        started = time.monotonic()
        for i in range(n):
            bed.kube.batch.create_namespaced_job(jobs_ns, plain_job(f"j-{i:04d}"))

        def jobs_done() -> bool:
            jobs = bed.kube.batch.list_namespaced_job(jobs_ns).items
            return sum(1 for j in jobs if (j.status.succeeded or 0) > 0) == n

        wait(jobs_done, 900, "plain jobs", interval=0.5)
        plain = time.monotonic() - started

        actions_ns = bed.namespace("actions")
        bed.start_operator(actions_ns)
        wait(lambda: "caches synced" in bed.operator_log(), 60, "the operator to sync")
        started = time.monotonic()
        create_actions(bed, actions_ns, [f"a-{i:04d}" for i in range(n)])
        wait(lambda: phases(bed, actions_ns)["SUCCEEDED"] == n, 900, "actions", interval=0.5)
        actions = time.monotonic() - started
    print(f"plain Jobs: {n} in {plain:.1f} s ({n / plain:.2f}/s)")
    print(f"actions:    {n} in {actions:.1f} s ({n / actions:.2f}/s)")
    print(f"actions / plain Jobs throughput: {plain / actions:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
