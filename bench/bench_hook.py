"""Throughput and latency of the job hook for signed progress reports.

Starts a private control plane and SeaweedFS and the hook as a process; creates A
actions directly (no operator needed), marks them RUNNING in attempt 1, derives each
attempt's key from the bench's master keys file (``asyncaction.keys``), then sends N
version-2 signed progress reports over T keep-alive connections (``hookload``: asyncio
client processes, each connection cycling over the actions) and prints requests/s,
latency percentiles, how many status patches the coalescer wrote (so reports per
write), and the CPU each party used during the load: the client, the hook, and the
API server with etcd (all share this machine's cores; in a cluster only the hook's
share is on the hook's node).

``--client urllib`` sends as this bench did first: T threads of ``urllib``, a new TCP
connection per report; on two cores that client, not the hook, sets the figure.

    .venv/bin/python bench/bench_hook.py [N] [T] [A] [--client keepalive|urllib]
                                      [--status-writes-per-second R]
                                                          (default 2000 4 1 keepalive)

``--status-writes-per-second`` is passed to the hook (its default otherwise; 0: the
coalesced writes are not paced, each action written once per window).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for hookload

from asyncaction.keys import load_master_keys
from asyncaction_job.signing import headers_v2
from asyncaction_testbed import procs
from asyncaction_testbed.controlplane import ControlPlane
from asyncaction_testbed.crds import install_crds
from asyncaction_testbed.s3server import S3Server
from hookload import LoadResult, run_load
from tests.support.kube import Kube
from tests.support.procs import ensure_master_keys, start_hook, stop_process


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes (not their children) have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def urllib_load(url: str, targets: list[tuple[str, str]], n: int, threads: int) -> LoadResult:
    """The first client of this bench: a thread per client, a connection per report."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
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
                status = response.status
            with lock:
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1

    per = n // threads
    pool = [threading.Thread(target=worker, args=(per, t * per)) for t in range(threads)]
    cpu = time.process_time()
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    return LoadResult(sorted(latencies), elapsed, statuses, time.process_time() - cpu)


def main(n: int, threads: int, actions: int, client: str, pacing: tuple[str, ...] = ()) -> None:
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
            *pacing,
        )
        print(f"hook process {hook.pid} at {url}", flush=True)  # e.g. for py-spy --pid
        before = kube.custom.list_namespaced_custom_object(
            "asyncaction.dev", "v1alpha1", "default", "asyncactions"
        )["metadata"]["resourceVersion"]  # after every set-up write
        servers = [
            pid
            for pid in (procs.read_pid(plane.state, name) for name in ("etcd", "kube-apiserver"))
            if pid is not None
        ]
        cpu_before = cpu_seconds([hook.pid]), cpu_seconds(servers)
        if client == "urllib":
            result = urllib_load(url, targets, n, threads)
        else:
            result = run_load(url, targets, n, threads, processes=2)
        hook_cpu = cpu_seconds([hook.pid]) - cpu_before[0]
        server_cpu = cpu_seconds(servers) - cpu_before[1]
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
        print(result.summary())
        print(
            f"hook CPU {hook_cpu:.2f} s = {hook_cpu / result.elapsed:.2f} cores"
            f" ({hook_cpu / max(1, len(result.latencies)) * 1e6:.0f} µs a report);"
            f" kube-apiserver and etcd {server_cpu:.2f} s = {server_cpu / result.elapsed:.2f}"
            " cores"
        )
        print(
            f"status patches written: {patches} for {actions} actions (coalesce window 1.0 s,"
            f" {' '.join(pacing) or 'default pacing'};"
            f" {len(result.latencies) / max(1, patches):.1f} reports per write)"
        )
    finally:
        if hook is not None:
            stop_process(hook)
        s3.stop()
        plane.stop()
        shutil.rmtree(state, ignore_errors=True)  # etcd and S3 data: ~65 MiB a run


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=int, nargs="?", default=2000)
    parser.add_argument("clients", type=int, nargs="?", default=4)
    parser.add_argument("actions", type=int, nargs="?", default=1)
    parser.add_argument("--client", choices=["keepalive", "urllib"], default="keepalive")
    parser.add_argument("--status-writes-per-second", type=float, default=None)
    args = parser.parse_args()
    rate = args.status_writes_per_second
    pacing = () if rate is None else ("--status-writes-per-second", f"{rate:g}")
    main(args.reports, args.clients, args.actions, args.client, pacing)
