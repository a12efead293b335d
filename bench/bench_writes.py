"""API writes per action lifecycle, from the API server's own request counters.

N trivial actions (no progress reports, no hook) run to SUCCEEDED one after another
under the operator, with the node agent playing the kubelet. The writes the operator
can make are counted from ``apiserver_request_total`` (creates, patches, updates and
deletes of asyncactions and their status, Secrets, Jobs) plus the Events whose
involved object is an AsyncAction (other components post Events about Jobs and Pods:
those are not ours). Goal: at most 6 per lifecycle.

    .venv/bin/python bench/bench_writes.py [N]   (default 10)
"""

from __future__ import annotations

import sys
from collections import Counter
from functools import partial

from asyncaction.api.names import ACTION_PLURAL, GROUP, VERSION
from testbed import action_body, phases, testbed, wait

WRITE_VERBS = {"POST", "PATCH", "PUT", "DELETE", "CREATE", "UPDATE", "APPLY"}
OURS = {"asyncactions", "secrets", "jobs"}


def main(n: int) -> None:
    with testbed() as bed:
        namespace = bed.namespace("writes")
        bed.start_node_agent()
        bed.start_operator(namespace)
        wait(lambda: "caches synced" in bed.operator_log(), 60, "the operator to sync")
        before = bed.requests()

        def succeeded(count: int) -> bool:
            return phases(bed, namespace)["SUCCEEDED"] == count

        for i in range(n):
            bed.kube.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, ACTION_PLURAL, action_body(f"w-{i:03d}")
            )
            wait(partial(succeeded, i + 1), 120, "success", 0.2)
        after = bed.requests()
        delta: Counter[tuple[str, str, str]] = Counter()
        for key, value in after.items():
            verb, resource, sub = key
            theirs = resource == "jobs" and sub == "status"  # the Job controller's writes
            grew = value > before.get(key, 0)
            if verb in WRITE_VERBS and resource in OURS and not theirs and grew:
                delta[key] = value - before.get(key, 0)
        creates = delta[("POST", "asyncactions", "")]  # the benchmark's own creates
        delta.pop(("POST", "asyncactions", ""), None)
        events = [
            e
            for e in bed.kube.core.list_namespaced_event(namespace).items
            if e.involved_object.kind == "AsyncAction"
        ]
        operator_writes = sum(delta.values()) + len(events)
        print(f"actions run to SUCCEEDED: {n} (created by the benchmark: {creates})")
        for (verb, resource, sub), value in sorted(delta.items()):
            print(f"  {verb} {resource}{'/' + sub if sub else ''}: {value}")
        print(f"  Events about AsyncActions: {len(events)} {sorted({e.reason for e in events})}")
        print(f"writes per lifecycle: {operator_writes / n:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
