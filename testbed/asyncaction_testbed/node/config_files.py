"""Writes the node's configuration files (``config``'s texts) into its state directory.

``config`` only computes text and argv, so it can be unit-tested without touching
anything; this is the one place that puts those texts on disk (containerd.toml, the
runc wrapper, the CNI conflist, resolv.conf, kube-proxy's config) before any process
that reads them starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from asyncaction_testbed.images.recipes import PAUSE_IMAGE
from asyncaction_testbed.node import config as cfg
from asyncaction_testbed.node.preflight import which


def write_config_files(paths: cfg.NodePaths, kubeconfig: Path) -> None:
    """The node's directories and every file its processes read, for ``kubeconfig``."""
    for directory in (
        paths.state,
        paths.cni_conf_dir,
        paths.cni_data_dir,
        paths.kubelet_root,
        paths.dns_hosts_dir,
        paths.containerd_state,
    ):
        directory.mkdir(parents=True, exist_ok=True)
    paths.runc_wrapper.write_text(
        cfg.runc_wrapper(which("python3") or sys.executable, which("runc") or "runc")
    )
    paths.runc_wrapper.chmod(0o755)
    paths.containerd_config.write_text(cfg.containerd_config(paths, PAUSE_IMAGE))
    (paths.cni_conf_dir / "10-asyncaction.conflist").write_text(cfg.cni_conflist(paths))
    paths.resolv_conf.write_text(cfg.resolv_conf())
    paths.kube_proxy_config.write_text(cfg.kube_proxy_config(kubeconfig))
