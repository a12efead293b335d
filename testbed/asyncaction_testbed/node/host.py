"""What the real node changes on the host, recorded before it starts and undone after.

``snapshot()`` captures everything the node may touch (sysctls, links, iptables chains,
cgroups, network namespaces, mounts, the kubelet's fixed paths); ``clean()`` restores a
recorded snapshot: it kills what runs in the node's cgroups, unmounts, removes chains,
the bridge, cgroups and paths that were not there before, and writes back sysctls.
A test compares ``snapshot()`` before ``up`` and after ``down``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from asyncaction_testbed.node.config import BRIDGE, FORWARD_CHAIN

# Set by the node (ip_forward), by kube-proxy (route_localnet, bridge-nf-call) and by
# the kubelet at start (its "kernel defaults").
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.netfilter.nf_conntrack_max",
)
# Paths the kubelet, containerd's shims and CNI use whatever their flags say.
FIXED_PATHS = (
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/netns",
    "/run/containerd",
    "/usr/libexec/kubernetes",
)
CGROUP_ROOTS = ("kubepods", "k8s.io")
CHAIN_PREFIXES = ("KUBE-", "CNI-", FORWARD_CHAIN)
TABLES = ("filter", "nat", "mangle")
FAMILIES = ("iptables", "ip6tables")
CGROUP_FS = Path("/sys/fs/cgroup")


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


def write_sysctl(name: str, value: str) -> None:
    _sysctl_path(name).write_text(value + "\n")


def links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines())


def chains(family: str, table: str) -> list[str]:
    out = subprocess.run([family, "-t", table, "-S"], capture_output=True, text=True, check=False)
    return sorted(
        line.split()[1] for line in out.stdout.splitlines() if line.startswith(("-N ", "-P "))
    )


def ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def cgroups() -> list[str]:
    found: list[str] = []
    if not CGROUP_FS.is_dir():
        return found
    for hierarchy in sorted(CGROUP_FS.iterdir()):
        for root in CGROUP_ROOTS:
            if (hierarchy / root).is_dir():
                found.append(f"{hierarchy.name}/{root}")
    return found


def mountpoints(prefixes: Iterable[Path]) -> list[str]:
    """Mount points at or under any of ``prefixes`` (from /proc/self/mountinfo)."""
    roots = [str(p).rstrip("/") for p in prefixes]
    points: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == r or point.startswith(r + "/") for r in roots):
            points.append(point)
    return points


def snapshot(extra_dirs: Iterable[Path] = ()) -> dict[str, Any]:
    """Everything the node may change, in a comparable form."""
    watched = [*map(Path, FIXED_PATHS), *extra_dirs]
    netns = Path("/run/netns")
    return {
        "sysctls": read_sysctls(),
        "paths": {p: os.path.lexists(p) for p in FIXED_PATHS},
        "links": links(),
        "iptables": {
            f"{fam} {t}": [c for c in chains(fam, t) if ours(c)] for fam in FAMILIES for t in TABLES
        },
        "cgroups": cgroups(),
        "netns": sorted(os.listdir(netns)) if netns.is_dir() else [],
        "mounts": sorted(set(mountpoints(watched))),
    }


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two snapshots (empty when the host is as before)."""
    return [
        f"{key}: before {before.get(key)!r}, now {after.get(key)!r}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for hierarchy in CGROUP_FS.iterdir() if CGROUP_FS.is_dir() else []:
        for root in CGROUP_ROOTS:
            base = hierarchy / root
            if not base.is_dir():
                continue
            for directory, _, files in os.walk(base):
                if "cgroup.procs" in files:
                    with contextlib.suppress(OSError, ValueError):
                        text = (Path(directory) / "cgroup.procs").read_text()
                        pids.update(int(p) for p in text.split())
    return pids


def shim_pids(socket: Path) -> set[int]:
    """containerd shims serving the node's containerd (found by its socket in their argv)."""
    pids: set[int] = set()
    needle = str(socket).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"containerd-shim" in argv[0] and needle in argv:
            pids.add(int(entry.name))
    return pids


def kill_all(pids: set[int], timeout: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_exists(p) for p in pids):
            time.sleep(0.1)


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def unmount_all(prefixes: Iterable[Path]) -> None:
    for point in sorted(set(mountpoints(prefixes)), key=len, reverse=True):
        done = subprocess.run(["umount", point], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def remove_chains(before: Mapping[str, list[str]]) -> None:
    for family in FAMILIES:
        if not shutil.which(family):
            continue
        for table in TABLES:
            kept = set(before.get(f"{family} {table}", []))
            doomed = {c for c in chains(family, table) if ours(c) and c not in kept}
            if not doomed:
                continue
            rules = subprocess.run(
                [family, "-t", table, "-S"], capture_output=True, text=True, check=False
            ).stdout.splitlines()
            for rule in rules:
                words = shlex.split(rule)
                if len(words) > 1 and words[0] == "-A" and words[1] not in doomed:
                    target = words[words.index("-j") + 1] if "-j" in words else ""
                    if target in doomed:
                        subprocess.run(
                            [family, "-t", table, "-D", *words[1:]],
                            capture_output=True,
                            check=False,
                        )
            for chain in doomed:
                subprocess.run([family, "-t", table, "-F", chain], capture_output=True, check=False)
            for chain in doomed:
                subprocess.run([family, "-t", table, "-X", chain], capture_output=True, check=False)


def remove_cgroups(before: Iterable[str]) -> None:
    kept = set(before)
    for entry in cgroups():
        if entry in kept:
            continue
        for directory, _, _ in os.walk(CGROUP_FS / entry, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def clean(before: Mapping[str, Any], node_dirs: Iterable[Path], containerd_socket: Path) -> None:
    """Undo every change the node made since ``before`` (a ``snapshot()``)."""
    node_dirs = list(node_dirs)
    kill_all(_cgroup_pids() | shim_pids(containerd_socket))
    netns = Path("/run/netns")
    unmount_all([*node_dirs, *map(Path, FIXED_PATHS)])
    if netns.is_dir():
        for name in set(os.listdir(netns)) - set(before.get("netns", [])):
            with contextlib.suppress(OSError):
                (netns / name).unlink()
    remove_chains(before.get("iptables", {}))
    if BRIDGE in links() and BRIDGE not in before.get("links", []):
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    for link in set(links()) - set(before.get("links", [])):
        if link.startswith("veth"):
            subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
    remove_cgroups(before.get("cgroups", []))
    current = read_sysctls()
    for name, value in before.get("sysctls", {}).items():
        if current.get(name) != value:
            with contextlib.suppress(OSError):
                write_sysctl(name, value)
    for path, existed in before.get("paths", {}).items():
        if not existed and os.path.lexists(path):
            shutil.rmtree(path, ignore_errors=True)
