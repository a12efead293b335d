"""Whether this machine can run the real node at all, and if not, what to do about it.

Checked before anything on the host changes, so a machine without root, the host tools,
cgroup v1, the built Kubernetes binaries or free address ranges gets one sentence that
names the fix (``make node-setup``, ``make kube-binaries``) and the test bed falls back
to the node agent instead of failing half-way through a start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from asyncaction_testbed.binaries import NODE_NAMES, cache_dir, locate
from asyncaction_testbed.node import config as cfg

TOOLS = (
    "containerd",
    "containerd-shim-runc-v2",
    "runc",
    "ctr",
    "ip",
    "iptables",
    "dnsmasq",
    "conntrack",
    "mmdebstrap",
)
CNI_PLUGINS = ("bridge", "host-local", "loopback")


class NodeUnavailable(RuntimeError):
    """This machine cannot run the real node (the message says why)."""


def which(tool: str) -> str | None:
    """``shutil.which`` that also looks in the sbin directories (not on a user's PATH)."""
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def host_routes() -> list[str]:
    out = subprocess.run(
        ["ip", "-o", "-4", "route", "show"], capture_output=True, text=True, check=False
    )
    return [line.split()[0] for line in out.stdout.splitlines() if f"dev {cfg.BRIDGE}" not in line]


def unavailable_reason() -> str | None:
    """Why the real node cannot run here, or None when it can."""
    if sys.platform != "linux":
        return "the real node needs Linux"
    if os.geteuid() != 0:
        return "the real node needs root (containerd, the bridge, iptables)"
    missing = [tool for tool in TOOLS if not which(tool)]
    missing += [f"CNI {p}" for p in CNI_PLUGINS if not Path("/usr/lib/cni", p).exists()]
    if missing:
        return f"missing {', '.join(missing)}: run `make node-setup`"
    if not Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists():
        return "cgroup v1 memory hierarchy not found (the node uses the cgroupfs driver)"
    if not Path("/dev/kmsg").exists():
        return "no /dev/kmsg (the kubelet reads it)"
    found = locate([cache_dir() / "bin"], NODE_NAMES)
    if len(found) != len(NODE_NAMES):
        gone = sorted(set(NODE_NAMES) - set(found))
        return f"node binaries not built ({', '.join(gone)}): run `make kube-binaries`"
    return cfg.check_ranges(host_routes())
