"""The node's programs: containerd, dnsmasq, clusterdns, kubelet, kube-proxy, kube-scheduler.

Each runs through ``procs`` (pid file and log under the node's state directory). They
start in ``PROCESSES`` order and stop in reverse, and a start waits for what the next
step needs (containerd answering, then the node Ready), naming the log to read when a
wait runs out. Kept apart from ``lifecycle`` so the argv of every program and the order
they run in are in one place.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from asyncaction_testbed import procs
from asyncaction_testbed.binaries import NODE_NAMES, BinariesNotFound, cache_dir, locate
from asyncaction_testbed.images.containerd import ctr_command
from asyncaction_testbed.images.recipes import PAUSE_IMAGE
from asyncaction_testbed.node import config as cfg
from asyncaction_testbed.node import host

# Started in this order, stopped in reverse.
PROCESSES = ("containerd", "dnsmasq", "clusterdns", "kubelet", "kube-proxy", "kube-scheduler")
KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"


def node_binaries() -> dict[str, Path]:
    """kubelet, kube-proxy, kube-scheduler and pause, only from the test bed's cache."""
    found = locate([cache_dir() / "bin"], NODE_NAMES)
    if len(found) != len(NODE_NAMES):
        raise BinariesNotFound(f"node binaries missing in {cache_dir() / 'bin'}")
    return found


def process_env() -> dict[str, str]:
    return cfg.node_env({"PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"})


def start_containerd(paths: cfg.NodePaths, env: dict[str, str]) -> None:
    """containerd (unless it runs already), and wait until it answers ``ctr version``."""
    if not procs.is_running(paths.state, "containerd"):
        procs.start(
            paths.state,
            "containerd",
            ["containerd", "--config", str(paths.containerd_config)],
            env=env,
        )
    wait(
        lambda: containerd_answers(paths),
        60,
        "containerd",
        procs.log_file(paths.state, "containerd"),
    )


def containerd_answers(paths: cfg.NodePaths) -> bool:
    ctr = ctr_command(paths.containerd_socket)
    return subprocess.run([*ctr, "version"], capture_output=True, check=False).returncode == 0


def service_commands(
    paths: cfg.NodePaths, binaries: dict[str, Path], kubeconfig: Path
) -> dict[str, list[str]]:
    """The argv of every process after containerd."""
    return {
        "dnsmasq": cfg.dnsmasq_args(paths),
        "clusterdns": [
            sys.executable,
            "-m",
            "asyncaction_testbed.node.dns",
            "--kubeconfig",
            str(kubeconfig),
            "--hosts-dir",
            str(paths.dns_hosts_dir),
        ],
        "kubelet": [
            str(binaries["kubelet"]),
            *cfg.kubelet_args(paths, kubeconfig, PAUSE_IMAGE),
        ],
        "kube-proxy": [str(binaries["kube-proxy"]), f"--config={paths.kube_proxy_config}"],
        "kube-scheduler": [
            str(binaries["kube-scheduler"]),
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--port=0",
            "--bind-address=127.0.0.1",
            f"--secure-port={procs.free_port()}",
        ],
    }


def start_services(
    paths: cfg.NodePaths, binaries: dict[str, Path], kubeconfig: Path, env: dict[str, str]
) -> None:
    """Every process after containerd that does not run yet, in ``PROCESSES`` order."""
    commands = service_commands(paths, binaries, kubeconfig)
    for name in PROCESSES[1:]:
        if not procs.is_running(paths.state, name):
            procs.start(paths.state, name, commands[name], env=env)


def node_ready(state: Path, kubeconfig: Path) -> bool:
    """The kubelet answers its health check and the node reports Ready.

    Both, because the Ready condition alone may be stale: nothing marks a stopped
    node NotReady (no node lifecycle controller runs).
    """
    try:
        with urllib.request.urlopen(KUBELET_HEALTHZ, timeout=2) as response:
            if response.status != 200:
                return False
    except OSError:
        return False
    out = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "get",
            "node",
            cfg.NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if not procs.is_running(state, "kubelet"):
        raise RuntimeError(f"kubelet exited{procs.tail(procs.log_file(state, 'kubelet'))}")
    return out.stdout.strip() == "True"


def remove_not_ready_taint(kubeconfig: Path) -> None:
    # The kubelet registers with this taint; the node lifecycle controller, which
    # would remove it, is not run (it would also evict the node agent's pods).
    subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "taint",
            "nodes",
            cfg.NODE_NAME,
            "node.kubernetes.io/not-ready:NoSchedule-",
        ],
        capture_output=True,
        check=False,
    )


def stop_all(paths: cfg.NodePaths) -> None:
    """Every process, in reverse start order."""
    for name in reversed(PROCESSES[1:]):
        procs.stop(paths.state, name)
    # Containers first (their shims and processes), then containerd itself.
    host.kill_all(host.shim_pids(paths.containerd_socket))
    procs.stop(paths.state, "containerd")


def wait(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} not reached in {timeout}s{procs.tail(log)}")
