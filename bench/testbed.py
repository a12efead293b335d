"""What the controller benchmarks share: a private test bed, an operator process, and
the API server's own request counters.

Not a benchmark itself (``make bench`` runs ``bench/bench_*.py`` only).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from asyncaction.api.names import API_VERSION
from asyncaction.api.phases import Phase
from asyncaction.keys import MASTER_KEYS_ENV
from asyncaction.kube import KubeClient, paths
from asyncaction.lifecycle import conditions_for
from asyncaction.lifecycle.waiting import queue_block
from asyncaction.timeutil import format_time, utcnow
from asyncaction_testbed import procs
from asyncaction_testbed.controlplane import ControlPlane
from asyncaction_testbed.crds import install_crds
from tests.support.kube import Kube
from tests.support.procs import ensure_master_keys

POD = {"spec": {"containers": [{"name": "m", "image": "x", "command": ["true"]}]}}
_LINE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


@dataclass
class Bed:
    state: Path
    plane: ControlPlane
    kube: Kube

    @property
    def kubeconfig(self) -> Path:
        return self.plane.admin_kubeconfig

    def namespace(self, name: str) -> str:
        self.kube.core.create_namespace({"metadata": {"name": name}})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the token controller writes the SA's secret
            if self.kube.core.list_namespaced_secret(name).items:
                break
            time.sleep(0.2)
        return name

    def requests(self) -> Counter[tuple[str, str, str]]:
        """apiserver_request_total by (verb, resource, subresource), summed over codes."""
        status, body = self.plane._get("/metrics")
        assert status == 200, status
        counts: Counter[tuple[str, str, str]] = Counter()
        for line in body.decode().splitlines():
            match = _LINE.match(line)
            if not match:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
            key = (
                labels.get("verb", ""),
                labels.get("resource", ""),
                labels.get("subresource", ""),
            )
            counts[key] += int(float(match["value"]))
        return counts

    def start_node_agent(self) -> int:
        return procs.start(
            self.state,
            "nodeagent",
            [
                sys.executable,
                "-m",
                "asyncaction_testbed.nodeagent",
                "--kubeconfig",
                str(self.kubeconfig),
                "--log-dir",
                str(self.state / "pods"),
            ],
        )

    def start_operator(self, namespace: str, name: str = "operator", **env: str) -> int:
        """An operator process serving ``namespace``; ``name`` names its pid and log
        files (``procs``), for benchmarks that run two."""
        settings = {
            "ASYNCACTION_KUBECONFIG": str(self.kubeconfig),
            "ASYNCACTION_HOOK_URL": "http://127.0.0.1:9/none",
            MASTER_KEYS_ENV: str(ensure_master_keys(self.state)),
            **env,
        }
        return procs.start(
            self.state,
            name,
            [sys.executable, "-m", "asyncaction.main", "-n", namespace, "--liveness", ""],
            env=settings,
        )

    def stop_operator(self) -> None:
        procs.stop(self.state, "operator")

    def operator_log(self, name: str = "operator") -> str:
        log = procs.log_file(self.state, name)
        return log.read_text(errors="replace") if log.exists() else ""


@contextmanager
def testbed() -> Iterator[Bed]:
    state = Path(tempfile.mkdtemp(prefix="aa-bench-"))
    plane = ControlPlane(state / "cp")
    plane.start()
    try:
        install_crds(plane.admin_kubeconfig)
        yield Bed(state, plane, Kube.from_kubeconfig(plane.admin_kubeconfig))
    finally:
        for name in ("operator", "nodeagent"):
            procs.stop(state, name)
        plane.stop()
        subprocess.run(["rm", "-rf", str(state)], check=False)


def action_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "AsyncAction",
        "metadata": {"name": name},
        "spec": {"template": POD, **spec},
    }


async def _bulk(kubeconfig: Path, calls: list[Callable[[KubeClient], Any]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)
    async with await KubeClient.from_kubeconfig(kubeconfig) as api:

        async def one(call: Callable[[KubeClient], Any]) -> None:
            async with gate:
                await call(api)

        await asyncio.gather(*(one(call) for call in calls))


def bulk(kubeconfig: Path, calls: list[Callable[[KubeClient], Any]], limit: int = 16) -> None:
    """Run async API calls with ``limit`` in flight (to set a benchmark up quickly)."""
    asyncio.run(_bulk(kubeconfig, calls, limit))


def create_actions(
    bed: Bed, namespace: str, names: list[str], status: dict[str, Any] | None = None, **spec: Any
) -> None:
    """Create actions (and, with ``status``, write that status for each)."""

    def create(name: str) -> Callable[[KubeClient], Any]:
        async def call(api: KubeClient) -> None:
            created = await api.create(paths.action_path(namespace), action_body(name, **spec))
            if status is not None:
                generation = created["metadata"]["generation"]
                body = {"status": {**status, "observedGeneration": generation}}
                for condition in body["status"].get("conditions", []):
                    condition["observedGeneration"] = generation
                await api.patch(paths.action_path(namespace, name, status=True), body)

        return call

    bulk(bed.kubeconfig, [create(name) for name in names])


def rss_kib(pid: int, field: str = "VmRSS:") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> float:
    """Seconds until ``check`` held; SystemExit after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout}s: {what}")
        time.sleep(interval)
    return time.monotonic() - started


def phases(bed: Bed, namespace: str) -> Counter[str | None]:
    return Counter(a.get("status", {}).get("phase") for a in bed.kube.list_actions(namespace))


def settled_status(phase: Phase, namespace: str, queue: str) -> dict[str, Any]:
    """A status the operator leaves as it is (so a restart on it writes nothing): a
    QUEUED one already says that its suspended queue holds it (``lifecycle.waiting``)."""
    now = utcnow()
    held = queue_block(namespace, queue, suspended=True, limit=None, active=0)
    reason = held.reason if held is not None and phase is Phase.QUEUED else None
    message = held.message if held is not None and reason else phase.value.lower()
    status: dict[str, Any] = {
        "phase": phase.value,
        "message": message,
        "queuedAt": format_time(now),
        "attempts": 0,
        "failures": 0,
        "queue": queue,
        "observedGeneration": 1,
        "conditions": conditions_for(
            phase, reason=reason, now=now, message=message, observed_generation=1
        ),
    }
    if phase.is_terminal:
        status.update(
            attempts=1, startedAt=format_time(now), finishedAt=format_time(now), progress=100
        )
    return status
