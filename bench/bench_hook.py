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
                                      [--status-writes-per-second R] [--shards K]
                                      [--pin] [--rounds K] (default 2000 4 1 keepalive)

``--status-writes-per-second`` is passed to the hook (its default otherwise; 0: the
coalesced writes are not paced, each action written once per window).

``--shards K`` runs K hook processes, one per shard (``--shard i --shards K``), as a
cluster scales the hook out: each action carries the shard label the operator writes,
each replica watches and serves only its shard's actions, and each client connection
reports to the replica of the actions it reports for (the job's ``JOB_HOOK``). The
status-write pacing is per replica, so the total is divided among them to keep the API
server's write rate that of one replica.

``--pin`` gives the hook a core of its own and puts the API server, etcd, the controller
manager and the load client on the others, as in a cluster where the hook's node runs
the hook and the jobs and control plane run elsewhere. Unpinned, the one-threaded hook
waits for a core a sixth of the time on two cores; the bench prints that share
(``/proc/<pid>/task/*/schedstat``), the machine's busy cores and the hook's kernel share,
so a figure that the bed limits shows as such.

``--rounds K`` sends the load K times to the same hook and prints each round's figures,
then their median and range: the host moves one round's figures by a quarter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for hookload

from asyncaction.api.names import LABEL_HOOK_SHARD
from asyncaction.keys import load_master_keys
from asyncaction.sharding import shard_of
from asyncaction_hook.settings import HookSettings
from asyncaction_job.signing import headers_v2
from asyncaction_testbed import procs
from asyncaction_testbed.controlplane import ControlPlane
from asyncaction_testbed.crds import install_crds
from asyncaction_testbed.s3server import S3Server
from hookload import LoadResult, run_sharded_load
from tests.support.kube import Kube
from tests.support.procs import ensure_master_keys, start_hook, stop_process


def cpu_seconds(pids: list[int], *, kernel_only: bool = False) -> float:
    """User and system CPU the processes (not their children) have used so far (only
    the system part: ``kernel_only``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[12]) + (0 if kernel_only else int(fields[11]))  # stime, utime
    return total / ticks


def run_queue_seconds(pids: list[int]) -> float:
    """Seconds the processes' threads spent runnable but waiting for a core so far
    (``/proc/<pid>/task/*/schedstat``, second field)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def busy_cores() -> float:
    """Busy CPU seconds of the whole machine so far (``/proc/stat``)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def reference_ms() -> float:
    """CPU milliseconds of a fixed Python loop, the fastest of three: this machine class
    shares its physical cores, and the same loop takes up to half as long again from one
    minute to the next, with the hook's CPU a report moving alike. Printed beside the
    figures so that runs can be compared."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.process_time() - started)
    return best * 1000


def pin(pids: list[int], cores: set[int]) -> None:
    """Every thread of the processes onto ``cores`` (threads they start later inherit)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), cores)


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


@dataclass(frozen=True)
class Round:
    """One round's figures, for the summary of several."""

    rate: float
    p99_ms: float
    us_per_report: float
    reports_per_write: float


def hook_api_calls(groups: list[tuple[str, list[tuple[str, str]]]]) -> dict[str, float]:
    """The hook replicas' API requests by method and code, from their ``/metrics``."""
    calls: dict[str, float] = {}
    for url, _ in groups:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:  # noqa: S310
            for line in answer.read().decode().splitlines():
                if line.startswith("asyncaction_hook_rest_client_requests_total{"):
                    series, value = line.rsplit(" ", 1)
                    key = series.split("{", 1)[1].rstrip("}")
                    calls[key] = calls.get(key, 0.0) + float(value)
    return calls


def status_patches(calls: dict[str, float]) -> int:
    # the set-up made no PATCH through the hook: every accepted one is a status write
    return int(sum(v for k, v in calls.items() if 'method="PATCH"' in k and "200" in k))


def measure_round(
    client: str,
    groups: list[tuple[str, list[tuple[str, str]]]],
    targets: list[list[tuple[str, str]]],
    n: int,
    threads: int,
    processes: int,
    pids: list[int],
    servers: list[int],
    manager: int | None,
    *,
    shards: int,
    actions: int,
    pacing: float,
) -> Round:
    """Send one load, print what each party spent on it, and return its figures."""
    patches_before = status_patches(hook_api_calls(groups))
    cpu_before = cpu_seconds(pids), cpu_seconds(servers)
    kernel_before = cpu_seconds(pids, kernel_only=True)
    manager_before = cpu_seconds([manager]) if manager is not None else 0.0
    reference_before = reference_ms()
    machine_before = busy_cores()
    waited_before = run_queue_seconds(pids)
    if client == "urllib":
        if shards > 1:
            raise SystemExit("--client urllib sends to one replica: use --shards 1")
        result = urllib_load(groups[0][0], targets[0], n, threads)
    else:
        result = run_sharded_load(groups, n, threads, processes=processes)
    hook_cpu = cpu_seconds(pids) - cpu_before[0]
    hook_kernel = cpu_seconds(pids, kernel_only=True) - kernel_before
    server_cpu = cpu_seconds(servers) - cpu_before[1]
    waited = run_queue_seconds(pids) - waited_before
    manager_cpu = cpu_seconds([manager]) - manager_before if manager is not None else 0.0
    machine = busy_cores()
    busy = machine - machine_before
    reference = min(reference_before, reference_ms())
    print(result.summary())
    time.sleep(1.5)  # the last coalescing window is written after the last answer
    calls = hook_api_calls(groups)
    print("the hook's API calls:", ", ".join(f"{k}: {v:.0f}" for k, v in sorted(calls.items())))
    patches = status_patches(calls) - patches_before
    us_per_report = hook_cpu / max(1, len(result.latencies)) * 1e6
    print(
        f"hook CPU ({shards} process{'es' if shards > 1 else ''}) {hook_cpu:.2f} s"
        f" = {hook_cpu / result.elapsed:.2f} cores"
        f" ({us_per_report:.0f} µs a report,"
        f" {hook_kernel / max(hook_cpu, 1e-9) * 100:.0f} % in the kernel);"
        f" kube-apiserver and etcd {server_cpu:.2f} s = {server_cpu / result.elapsed:.2f}"
        f" cores; kube-controller-manager {manager_cpu / result.elapsed:.2f} cores"
    )
    print(
        f"the machine: {busy / result.elapsed:.2f} of {os.cpu_count()} cores"
        " busy while the clients ran; the hook waited for a core"
        f" {waited / result.elapsed * 100:.0f} % of the time; reference loop"
        f" {reference:.0f} ms (``reference_ms``: lower is a faster host)"
    )
    per_write = len(result.latencies) / max(1, patches)
    print(
        f"status patches written: {patches} for {actions} actions (coalesce window 1.0 s,"
        f" paced at {pacing:g} writes/s in all; {per_write:.1f} reports per write)",
        flush=True,
    )
    return Round(result.rate, result.percentile(0.99) * 1000, us_per_report, per_write)


def summarize(rounds: list[Round]) -> str:
    """The median and range of several rounds: on a shared host one round says little."""
    rates = sorted(r.rate for r in rounds)
    costs = sorted(r.us_per_report for r in rounds)
    return (
        f"{len(rounds)} rounds: median {statistics.median(rates):.0f} reports/s"
        f" ({rates[0]:.0f} to {rates[-1]:.0f}); median {statistics.median(costs):.0f} µs"
        f" of hook CPU a report ({costs[0]:.0f} to {costs[-1]:.0f}); worst p99"
        f" {max(r.p99_ms for r in rounds):.1f} ms; least reports per write"
        f" {min(r.reports_per_write for r in rounds):.1f}; rounds at 5,000 reports/s or"
        f" more: {sum(r.rate >= 5000 for r in rounds)}"
    )


def main(
    n: int,
    threads: int,
    actions: int,
    client: str,
    pacing: float | None = None,
    shards: int = 1,
    processes: int = 2,
    pinned: bool = False,
    rounds: int = 1,
) -> None:
    state = Path(tempfile.mkdtemp(prefix="aa-bench-hook-"))
    plane, s3 = ControlPlane(state / "cp"), S3Server(state / "s3")
    plane.start()
    s3.start()
    hooks: list[subprocess.Popen[bytes]] = []
    try:
        install_crds(plane.admin_kubeconfig)
        kube = Kube.from_kubeconfig(plane.admin_kubeconfig)
        keys = load_master_keys(ensure_master_keys(state))
        targets: list[list[tuple[str, str]]] = [[] for _ in range(shards)]
        for a in range(actions):
            created = kube.create_action(
                "default",
                {
                    "metadata": {"name": f"bench-{a}"},
                    "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "x"}]}}},
                },
            )
            uid = created["metadata"]["uid"]
            shard = shard_of(uid, shards)
            if shards > 1:  # what the operator writes before the first attempt
                kube.custom.patch_namespaced_custom_object(
                    "asyncaction.dev",
                    "v1alpha1",
                    "default",
                    "asyncactions",
                    f"bench-{a}",
                    {"metadata": {"labels": {LABEL_HOOK_SHARD: str(shard)}}},
                )
            kube.custom.patch_namespaced_custom_object_status(
                "asyncaction.dev",
                "v1alpha1",
                "default",
                "asyncactions",
                f"bench-{a}",
                {"status": {"phase": "RUNNING", "attempts": 1}},
            )
            targets[shard].append((uid, keys.issue("default", uid, 1)))
        stores = state / "stores.json"
        stores.write_text(json.dumps(s3.stores_document()))
        # one replica's pacing, shared by the replicas: the API server sees the same rate
        if pacing is None:
            pacing = HookSettings().status_writes_per_second
        burst = max(1, HookSettings().status_writes_burst // shards)
        paced = (
            *("--status-writes-per-second", f"{pacing / shards:g}"),
            *("--status-writes-burst", str(burst)),
        )
        groups = []
        for shard in range(shards):
            hook, url = start_hook(
                plane.admin_kubeconfig,
                stores,
                state / f"hook-{shard}.log",
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
                "--shard",
                str(shard),
                "--shards",
                str(shards),
                *paced,
            )
            hooks.append(hook)
            groups.append((url, targets[shard]))
            print(f"hook process {hook.pid} (shard {shard}) at {url}", flush=True)  # py-spy
        servers = [
            pid
            for pid in (procs.read_pid(plane.state, name) for name in ("etcd", "kube-apiserver"))
            if pid is not None
        ]
        manager = procs.read_pid(plane.state, "kube-controller-manager")
        pids = [hook.pid for hook in hooks]
        if pinned:
            # the hook's node runs the hook; the API server, etcd and the jobs run elsewhere
            cores = sorted(os.sched_getaffinity(0))
            if len(cores) < 2:
                raise SystemExit("--pin needs two cores")
            pin(pids, {cores[-1]})
            others = servers + ([manager] if manager is not None else []) + [os.getpid()]
            pin(others, set(cores[:-1]))  # the load client's processes inherit this
        figures = []
        for number in range(1, rounds + 1):
            if rounds > 1:
                print(f"-- round {number} of {rounds}", flush=True)
            figures.append(
                measure_round(
                    client, groups, targets, n, threads, processes, pids, servers, manager,
                    shards=shards, actions=actions, pacing=pacing,
                )
            )  # fmt: skip
        if rounds > 1:
            print(summarize(figures))
    finally:
        for hook in hooks:
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
    parser.add_argument("--shards", type=int, default=1, help="hook replicas, one per shard")
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes of the keep-alive client"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the hook on a core of its own, everything else on the others (a cluster's hook node)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="loads sent one after another to the same hook; prints their median and range",
    )
    args = parser.parse_args()
    main(
        args.reports,
        args.clients,
        args.actions,
        args.client,
        args.status_writes_per_second,
        args.shards,
        args.client_processes,
        args.pin,
        args.rounds,
    )
