"""A load of signed progress reports for the job hook, cheap enough not to be the limit.

Used by ``bench_hook.py`` (the hook as a process against a real API server) and
``bench_hook_inprocess.py`` (the hook in-process, the API in memory, for profiling).

Why not 64 threads of urllib: on two cores that client costs more CPU per request than
the hook (a new TCP connection per request, a thread switch under the GIL for every
read), so the figure measured the client. Real job clients are separate pods on other
nodes; their cost is not the hook's. So the load here runs ``connections`` keep-alive
HTTP/1.1 connections spread over ``processes`` asyncio processes (each connection one
report at a time, as a job reports), and says how much CPU the client itself used: when
the client's processes use about one core of two, the figure is the client's, not the
hook's.

Every report is a distinct body signed with version 2 at the wall-clock millisecond it
is sent, so no two signatures collide and the replay memory is exercised as in
production.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from asyncaction_job.signing import HEADER_HASH, HEADER_ID, HEADER_SIGNATURE, HEADER_TIME, sign_v2


@dataclass
class LoadResult:
    latencies: list[float]  # seconds, sorted
    elapsed: float  # wall seconds from the common start to the last answer
    statuses: dict[int, int]  # HTTP status -> count
    client_cpu: float  # CPU seconds the client's processes used while sending

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, fraction: float) -> float:
        return self.latencies[max(0, int(len(self.latencies) * fraction) - 1)]

    def summary(self, label: str = "reports") -> str:
        """The lines the benchmarks print."""
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{label}: {len(self.latencies)} in {self.elapsed:.2f} s ({self.rate:.0f} req/s;"
            f" answers {statuses})\n"
            f"latency p50 {self.percentile(0.5) * 1000:.1f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.1f} ms\n"
            f"client CPU {self.client_cpu:.2f} s = {self.client_cpu / self.elapsed:.2f} cores"
            f" of {os.cpu_count()} ({self.client_cpu / max(1, len(self.latencies)) * 1e6:.0f}"
            " µs a report)"
        )


def _request(host: str, path: str, uid: str, key: str, index: int) -> bytes:
    body = json.dumps({"progress": index % 100, "statusDetails": {"n": index}}).encode()
    time_ms = str(time.time_ns() // 1_000_000)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{HEADER_ID}: {uid}\r\n{HEADER_TIME}: {time_ms}\r\n"
        f"{HEADER_HASH}: {sign_v2(key, time_ms, 'POST', path, body)}\r\n"
        f"{HEADER_SIGNATURE}: v2\r\n\r\n"
    )
    return head.encode("latin-1") + body


Group = tuple[str, list[tuple[str, str]]]  # a hook's URL and the (uid, key) pairs it serves


async def _connection(
    group: Group, first: int, count: int, start_at: float
) -> tuple[list[float], dict[int, int]]:
    url, targets = group
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = f"{parts.path.rstrip('/')}/status"
    reader, writer = await asyncio.open_connection(host, port)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    await asyncio.sleep(max(0.0, start_at - time.time()))
    try:
        for index in range(first, first + count):
            uid, key = targets[index % len(targets)]
            started = time.perf_counter()
            writer.write(_request(f"{host}:{port}", path, uid, key, index))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()
    return latencies, statuses


async def _process_load(
    connections: list[tuple[Group, int]], per: int, start_at: float
) -> tuple[list[float], dict[int, int], float, float]:
    cpu = time.process_time()
    done = await asyncio.gather(*(_connection(g, f, per, start_at) for g, f in connections))
    latencies = [lat for lats, _ in done for lat in lats]
    statuses: dict[int, int] = {}
    for _, counts in done:
        for code, n in counts.items():
            statuses[code] = statuses.get(code, 0) + n
    return latencies, statuses, time.process_time() - cpu, time.time()


def _worker(
    connections: list[tuple[Group, int]],
    per: int,
    start_at: float,
    out: multiprocessing.Queue[tuple[list[float], dict[int, int], float, float]],
) -> None:
    out.put(asyncio.run(_process_load(connections, per, start_at)))


def run_load(
    url: str, targets: list[tuple[str, str]], reports: int, connections: int, processes: int = 4
) -> LoadResult:
    """Send ``reports`` signed progress reports over ``connections`` keep-alive
    connections (``targets``: (uid, key) pairs, cycled) from ``processes`` processes."""
    return run_sharded_load([(url, targets)], reports, connections, processes)


def run_sharded_load(
    groups: list[Group], reports: int, connections: int, processes: int = 4
) -> LoadResult:
    """``run_load`` over several hook replicas (shards): connection ``c`` goes to group
    ``c % len(groups)`` and cycles over that group's actions, as each job reports to the
    replica its ``JOB_HOOK`` names."""
    processes = max(1, min(processes, connections))
    per = reports // connections
    plan = [(groups[c % len(groups)], c * per) for c in range(connections)]
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[tuple[list[float], dict[int, int], float, float]] = context.Queue()
    start_at = time.time() + 1.0  # every connection open before the clock starts
    workers = [
        context.Process(target=_worker, args=(plan[p::processes], per, start_at, out))
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    latencies = sorted(lat for r in results for lat in r[0])
    statuses: dict[int, int] = {}
    for r in results:
        for code, n in r[1].items():
            statuses[code] = statuses.get(code, 0) + n
    elapsed = max(r[3] for r in results) - start_at
    return LoadResult(latencies, elapsed, statuses, sum(r[2] for r in results))
