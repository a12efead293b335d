"""Throughput and latency of the job hook for signed progress reports.

Starts a private control plane and SeaweedFS and the hook as a process; creates A
actions directly (no operator needed), marks them RUNNING in attempt 1, derives each
attempt's key from the bench's master keys file (``asyncaction.keys``), then sends N
version-2 signed progress reports from T threads (each thread cycles over the actions)
and prints requests/s, latency percentiles and how many status patches the coalescer
wrote (so reports per write).

    .venv/bin/python bench/bench_hook.py [N] [THREADS] [ACTIONS]   (default 2000 4 1)
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from asyncaction.keys import load_master_keys
from asyncaction_job.signing import headers_v2
from asyncaction_testbed.controlplane import ControlPlane
from asyncaction_testbed.crds import install_crds
from asyncaction_testbed.s3server import S3Server
from tests.support.kube import Kube
from tests.support.procs import ensure_master_keys, start_hook, stop_process


def main(n: int, threads: int, actions: int) -> None:
    state = Path(tempfile.mkdtemp(prefix="aa-bench-hook-"))
    plane, s3 = ControlPlane(state / "cp"), S3Server(state / "s3")
    plane.start()
    s3.start()
    hook = None
    try:
        install_crds(plane.admin_kubeconfig)
        kube = Kube.from_kubeconfig(plane.admin_kubeconfig)
        keys = load_master_keys(ensure_master_keys(state))
        targets: list[tuple[str, str]] = []
        for a in range(actions):
            created = kube.create_action(
                "default",
                {
                    "metadata": {"name": f"bench-{a}"},
                    "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "x"}]}}},
                },
            )
            uid = created["metadata"]["uid"]
            kube.custom.patch_namespaced_custom_object_status(
                "asyncaction.dev",
                "v1alpha1",
                "default",
                "asyncactions",
                f"bench-{a}",
                {"status": {"phase": "RUNNING", "attempts": 1}},
            )
            targets.append((uid, keys.issue("default", uid, 1)))
        stores = state / "stores.json"
        stores.write_text(json.dumps(s3.stores_document()))
        hook, url = start_hook(
            plane.admin_kubeconfig,
            stores,
            state / "hook.log",
            "--coalesce-window",
            "1.0",
            "--rate",
            "100000",
            "--burst",
            "100000",
            "--namespace-rate",
            "100000",
            "--namespace-burst",
            "100000",
        )
        before = kube.custom.list_namespaced_custom_object(
            "asyncaction.dev", "v1alpha1", "default", "asyncactions"
        )["metadata"]["resourceVersion"]  # after every set-up write
        latencies: list[float] = []
        lock = threading.Lock()

        def worker(count: int, offset: int) -> None:
            for i in range(count):
                uid, key = targets[(offset + i) % len(targets)]
                body = json.dumps(
                    {"progress": (offset + i) % 100, "statusDetails": {"n": offset + i}}
                ).encode()
                # every body differs, so wall-clock times cannot collide; signing_clock
                # would run ahead of the hook's 5 s future limit at thousands per second
                now_ms = time.time_ns() // 1_000_000
                headers = headers_v2(uid, key, "POST", "/status", body, now_ms)
                headers["Content-Type"] = "application/json"
                request = urllib.request.Request(  # noqa: S310 - loopback http
                    f"{url}/status", data=body, headers=headers, method="POST"
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    response.read()
                with lock:
                    latencies.append(time.perf_counter() - started)

        per = n // threads
        pool = [threading.Thread(target=worker, args=(per, t * per)) for t in range(threads)]
        started = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - started
        time.sleep(1.5)
        from kubernetes import watch

        patches = sum(
            1
            for e in watch.Watch().stream(
                kube.custom.list_namespaced_custom_object,
                "asyncaction.dev",
                "v1alpha1",
                "default",
                "asyncactions",
                resource_version=before,
                timeout_seconds=2,
            )
            if e["type"] == "MODIFIED"
        )
        latencies.sort()
        print(
            f"reports: {len(latencies)} from {threads} threads in {elapsed:.2f} s "
            f"({len(latencies) / elapsed:.0f} req/s)"
        )
        print(
            f"latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
        )
        print(
            f"status patches written: {patches} for {actions} actions (coalesce window 1.0 s;"
            f" {len(latencies) / max(1, patches):.1f} reports per write)"
        )
    finally:
        if hook is not None:
            stop_process(hook)
        s3.stop()
        plane.stop()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    main(*(args + [2000, 4, 1][len(args) :]))
