"""The node's programs: one argv for every process after containerd, in start order."""

from __future__ import annotations

from pathlib import Path

from asyncaction_testbed.binaries import NODE_NAMES
from asyncaction_testbed.images.recipes import PAUSE_IMAGE
from asyncaction_testbed.node import config as cfg
from asyncaction_testbed.node import processes


def test_every_process_after_containerd_has_its_argv_in_start_order(tmp_path: Path) -> None:
    paths = cfg.NodePaths(tmp_path / "state", tmp_path / "run")
    binaries = {name: tmp_path / "bin" / name for name in NODE_NAMES}
    kubeconfig = tmp_path / "kubeconfig"
    commands = processes.service_commands(paths, binaries, kubeconfig)
    assert processes.PROCESSES[0] == "containerd"
    assert list(commands) == list(processes.PROCESSES[1:])
    assert commands["dnsmasq"] == cfg.dnsmasq_args(paths)
    assert commands["clusterdns"][1:] == [
        "-m",
        "asyncaction_testbed.node.dns",
        "--kubeconfig",
        str(kubeconfig),
        "--hosts-dir",
        str(paths.dns_hosts_dir),
    ]
    assert commands["kubelet"] == [
        str(binaries["kubelet"]),
        *cfg.kubelet_args(paths, kubeconfig, PAUSE_IMAGE),
    ]
    assert commands["kube-proxy"] == [
        str(binaries["kube-proxy"]),
        f"--config={paths.kube_proxy_config}",
    ]
    scheduler = commands["kube-scheduler"]
    assert scheduler[:5] == [
        str(binaries["kube-scheduler"]),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--port=0",
        "--bind-address=127.0.0.1",
    ]
    assert scheduler[5].startswith("--secure-port=")
    assert int(scheduler[5].split("=", 1)[1]) > 0
