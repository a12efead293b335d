"""The job hook at scale: time to a synced cache and memory, with N actions.

Creates N finished actions in one namespace (each with a 1 KiB result, a 20-line log
tail and statusDetails, as finished actions carry), then starts the hook on them (one
shard) and reports the seconds until its cache holds all N (``/metrics``'s
``asyncaction_hook_cached_actions``; the hook answers requests held meanwhile), its
RSS then, and the API requests it made. Then ``RESTARTS`` more starts on the same
actions.

    .venv/bin/python bench/bench_hook_scale.py [N] [RESTARTS]   (default 10000 0)
"""

from __future__ import annotations

import re
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asyncaction.kube import KubeClient, paths
from bench_hook_memory import FINISHED
from testbed import Bed, bulk, rss_kib, testbed
from tests.support.procs import ensure_master_keys, free_port, start_process, stop_process

POD = {"spec": {"containers": [{"name": "m", "image": "x", "command": ["true"]}]}}
# prometheus_client prints gauges as floats ("100000.0")
CACHED = re.compile(r"^asyncaction_hook_cached_actions ([0-9.e+]+)$", re.M)


def create(namespace: str, name: str) -> Callable[[KubeClient], Awaitable[None]]:
    async def call(api: KubeClient) -> None:
        body = {
            "apiVersion": "asyncaction.dev/v1alpha1",
            "kind": "AsyncAction",
            "metadata": {"name": name},
            "spec": {"template": POD, "request": {"n": name}},
        }
        await api.create(paths.action_path(namespace), body)
        await api.patch(paths.action_path(namespace, name, status=True), {"status": FINISHED})

    return call


def cached(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:  # noqa: S310
            found = CACHED.search(response.read().decode())
    except OSError:
        return -1
    return int(float(found.group(1))) if found else -1


def measure(bed: Bed, n: int, run: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    keys = ensure_master_keys(bed.state)
    log = bed.state / f"hook-{run}.log"
    started = time.monotonic()
    proc = start_process(
        [
            sys.executable,
            "-m",
            "asyncaction_hook.main",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--kubeconfig={bed.kubeconfig}",
            f"--master-keys-file={keys}",
        ],
        log,
    )
    try:
        peak = 0
        while cached(url) < n:
            peak = max(peak, rss_kib(proc.pid))
            if time.monotonic() - started > 600 or proc.poll() is not None:
                raise SystemExit(f"not synced: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        synced = time.monotonic() - started
        time.sleep(1)
        rss = rss_kib(proc.pid)
        peak = max(peak, rss, rss_kib(proc.pid, "VmHWM:"))
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:  # noqa: S310
            requests = [
                line
                for line in response.read().decode().splitlines()
                if line.startswith("asyncaction_hook_api_requests_total")
            ]
        print(
            f"run {run}: {n} actions cached {synced:.1f} s after start; RSS {rss / 1024:.0f} MiB "
            f"(peak {peak / 1024:.0f} MiB); {', '.join(requests)}"
        )
    finally:
        stop_process(proc)


def main(n: int, restarts: int) -> None:
    with testbed() as bed:
        namespace = bed.namespace("bench-hook")
        started = time.monotonic()
        bulk(bed.kubeconfig, [create(namespace, f"a{i}") for i in range(n)], limit=32)
        print(f"created {n} finished actions in {time.monotonic() - started:.0f} s")
        for run in range(1 + restarts):
            measure(bed, n, run)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*(args + [10000, 0][len(args) :]))
