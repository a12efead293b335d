"""A real Kubernetes node on this machine: containerd, kubelet, kube-proxy, scheduler, DNS.

One per machine (the kubelet has fixed host paths and the bridge is a host link): the
owner (a ``make up`` state directory or a test session) is recorded in
``/run/asyncaction-node/owner.json``; anyone else gets ``NodeInUse`` and keeps using the
node agent. Before anything changes, ``host.snapshot()`` is written to
``/run/asyncaction-node/host-before.json``; ``stop()`` stops every process and restores
the host from it (also after a crash: the next ``start`` first cleans a stale record).

Network: the bridge ``asyncaction0`` (10.200.0.1/24) is the node's address and the
pods' gateway; our own FORWARD chain drops whatever would leave the bridge, containerd
pulls through a proxy nobody serves, and dnsmasq answers Service names only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from asyncaction_testbed import procs
from asyncaction_testbed.binaries import NODE_NAMES, BinariesNotFound, cache_dir, locate
from asyncaction_testbed.images.cache import BuiltImage
from asyncaction_testbed.images.containerd import ctr_command, import_image
from asyncaction_testbed.images.recipes import PAUSE_IMAGE, build_pause_image
from asyncaction_testbed.node import config as cfg
from asyncaction_testbed.node import host

RUN_DIR = Path("/run/asyncaction-node")
LOCK_FILE = Path("/run/asyncaction-node.lock")
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
# Started in this order, stopped in reverse.
PROCESSES = ("containerd", "dnsmasq", "clusterdns", "kubelet", "kube-proxy", "kube-scheduler")
KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"


class NodeUnavailable(RuntimeError):
    """This machine cannot run the real node (the message says why)."""


class NodeInUse(NodeUnavailable):
    """Another state directory or test session owns the machine's node."""


def _which(tool: str) -> str | None:
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
    missing = [tool for tool in TOOLS if not _which(tool)]
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


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Serializes starting and stopping the machine's node across processes."""
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_owner(run: Path = RUN_DIR) -> dict[str, Any] | None:
    try:
        owner: dict[str, Any] = json.loads((run / "owner.json").read_text())
    except (OSError, ValueError):
        return None
    return owner


def current_owner(run: Path = RUN_DIR) -> dict[str, Any] | None:
    """Who runs the node now, if anyone.

    An owner counts while its kubelet or containerd lives and, for a test session (tied
    to its process), while that process lives: a killed session leaves an orphan that
    the next ``start`` cleans up instead of refusing forever.
    """
    owner = read_owner(run)
    if owner is None:
        return None
    tied = owner.get("tied")
    if tied and procs.start_time(int(tied["pid"])) != tied["start"]:
        return None
    state = Path(owner["state"])
    if any(procs.is_running(state, name) for name in ("containerd", "kubelet")):
        return owner
    return None


class RealNode:
    def __init__(
        self, state: Path, run: Path = RUN_DIR, *, owner_label: str = "", tied: bool = False
    ) -> None:
        """``tied``: the node belongs to this process (a test session), not to ``state``."""
        self.paths = cfg.NodePaths(Path(state).resolve(), run)
        self.owner_label = owner_label or str(self.paths.state)
        self.tied = tied

    @property
    def state(self) -> Path:
        return self.paths.state

    @property
    def ctr(self) -> list[str]:
        return ctr_command(self.paths.containerd_socket)

    def running(self) -> bool:
        owner = current_owner(self.paths.run)
        return owner is not None and Path(owner["state"]) == self.state

    def start(
        self, kubeconfig: Path, images: Sequence[BuiltImage] = (), timeout: float = 300
    ) -> None:
        """Start the node for the cluster of ``kubeconfig`` (or reuse it if we run it)."""
        reason = unavailable_reason()
        if reason:
            raise NodeUnavailable(reason)
        with machine_lock():
            owner = current_owner(self.paths.run)
            if owner is not None and Path(owner["state"]) != self.state:
                raise NodeInUse(
                    f"this machine's real node is in use by {owner['label']} "
                    f"(state {owner['state']}); stop it there (`make down`) to use it here"
                )
            if owner is None:
                self._clean_stale()
                self.paths.run.mkdir(parents=True, exist_ok=True)
                self.paths.host_record.write_text(
                    json.dumps(host.snapshot([self.paths.state, self.paths.run]))
                )
                pid = os.getpid()
                tied = {"pid": pid, "start": procs.start_time(pid)} if self.tied else None
                self.paths.owner.write_text(
                    json.dumps({"state": str(self.state), "label": self.owner_label, "tied": tied})
                )
            try:
                self._start(kubeconfig, images, timeout)
            except BaseException:
                self._stop_locked()
                raise

    def _binaries(self) -> dict[str, Path]:
        found = locate([cache_dir() / "bin"], NODE_NAMES)
        if len(found) != len(NODE_NAMES):
            raise BinariesNotFound(f"node binaries missing in {cache_dir() / 'bin'}")
        return found

    def _start(self, kubeconfig: Path, images: Sequence[BuiltImage], timeout: float) -> None:
        paths = self.paths
        binaries = self._binaries()
        env = cfg.node_env({"PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"})
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
            cfg.runc_wrapper(_which("python3") or sys.executable, _which("runc") or "runc")
        )
        paths.runc_wrapper.chmod(0o755)
        paths.containerd_config.write_text(cfg.containerd_config(paths, PAUSE_IMAGE))
        (paths.cni_conf_dir / "10-asyncaction.conflist").write_text(cfg.cni_conflist(paths))
        paths.resolv_conf.write_text(cfg.resolv_conf())
        paths.kube_proxy_config.write_text(cfg.kube_proxy_config(kubeconfig))
        self._network()
        self._api_for_pods(kubeconfig)
        if not procs.is_running(paths.state, "containerd"):
            procs.start(
                paths.state,
                "containerd",
                ["containerd", "--config", str(paths.containerd_config)],
                env=env,
            )
        _wait(lambda: self._ctr_ok(), 60, "containerd", procs.log_file(paths.state, "containerd"))
        for image in (build_pause_image(binaries["pause"]), *images):
            import_image(self.ctr, image)
        commands = {
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
        for name in PROCESSES[1:]:
            if not procs.is_running(paths.state, name):
                procs.start(paths.state, name, commands[name], env=env)
        _wait(
            self._api_rule_first,
            120,
            "kube-proxy's rules",
            procs.log_file(paths.state, "kube-proxy"),
        )
        _wait(
            lambda: self._node_ready(kubeconfig),
            timeout,
            "node Ready",
            procs.log_file(paths.state, "kubelet"),
        )
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

    def _network(self) -> None:
        """The bridge with the node's address, forwarding on, and our FORWARD guard."""
        bridge = cfg.BRIDGE
        if bridge not in host.links():
            _run("ip", "link", "add", bridge, "type", "bridge")
            _run("ip", "addr", "add", f"{cfg.NODE_IP}/24", "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        host.write_sysctl("net.ipv4.ip_forward", "1")
        # In mangle, which kube-proxy leaves alone, so the guard always runs first.
        chain = cfg.FORWARD_CHAIN
        if chain not in host.chains("iptables", "mangle"):
            mangle = ("iptables", "-t", "mangle")
            _run(*mangle, "-N", chain)
            _run(*mangle, "-A", chain, "-i", bridge, "-o", bridge, "-j", "RETURN")
            _run(*mangle, "-A", chain, "-i", bridge, "-j", "DROP")
            _run(*mangle, "-A", chain, "-o", bridge, "-j", "DROP")
            _run(*mangle, "-I", "FORWARD", "1", "-j", chain)
        # Pods must not reach the kubelet's API (it allows anonymous exec): only the
        # API server, from this host, does.
        guard = cfg.INPUT_CHAIN
        if guard not in host.chains("iptables", "mangle"):
            mangle = ("iptables", "-t", "mangle")
            _run(*mangle, "-N", guard)
            _run(
                *mangle,
                "-A",
                guard,
                "-i",
                bridge,
                "-p",
                "tcp",
                "--dport",
                str(cfg.KUBELET_PORT),
                "-j",
                "DROP",
            )
            _run(*mangle, "-I", "INPUT", "1", "-j", guard)

    def _api_for_pods(self, kubeconfig: Path) -> None:
        """Pods reach the API server (loopback only) at the ``kubernetes`` Service's IP.

        As in a cluster, in-cluster clients (the operator and hook as Pods) use
        ``KUBERNETES_SERVICE_HOST:443``: a DNAT from the bridge to the API server's
        loopback port, before kube-proxy's rules (whose endpoint, the advertise
        address, is not served here). Needs ``route_localnet`` (restored on stop).
        """
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        url = urllib.parse.urlsplit(server)
        if url.hostname != "127.0.0.1" or url.port is None:
            return
        service_ip = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "get",
                "service",
                "kubernetes",
                "-n",
                "default",
                "-o",
                "jsonpath={.spec.clusterIP}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        host.write_sysctl("net.ipv4.conf.all.route_localnet", "1")
        chain, nat = cfg.API_CHAIN, ("iptables", "-t", "nat")
        if chain in host.chains("iptables", "nat"):
            _run(*nat, "-F", chain)
        else:
            _run(*nat, "-N", chain)
            _run(*nat, "-I", "PREROUTING", "1", "-j", chain)
        _run(*nat, "-A", chain, *cfg.api_dnat_rule(service_ip, url.port))

    def _api_rule_first(self) -> bool:
        """Once kube-proxy prepended its jump, put ours back in front of it (done: True).

        kube-proxy only checks that its jump exists, so the order then holds.
        """
        rules = subprocess.run(
            ["iptables", "-t", "nat", "-S", "PREROUTING"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        jumps = [
            r.rsplit(" ", 1)[-1] for r in rules if r.startswith("-A PREROUTING") and "-j " in r
        ]
        if "KUBE-SERVICES" not in jumps or cfg.API_CHAIN not in jumps:
            return cfg.API_CHAIN not in jumps  # no API rule to order (not a loopback server)
        if jumps.index(cfg.API_CHAIN) < jumps.index("KUBE-SERVICES"):
            return True
        _run("iptables", "-t", "nat", "-D", "PREROUTING", "-j", cfg.API_CHAIN)
        _run("iptables", "-t", "nat", "-I", "PREROUTING", "1", "-j", cfg.API_CHAIN)
        return True

    def _ctr_ok(self) -> bool:
        return (
            subprocess.run([*self.ctr, "version"], capture_output=True, check=False).returncode == 0
        )

    def _node_ready(self, kubeconfig: Path) -> bool:
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
        if not procs.is_running(self.state, "kubelet"):
            raise RuntimeError(f"kubelet exited{procs.tail(procs.log_file(self.state, 'kubelet'))}")
        return out.stdout.strip() == "True"

    def stop(self) -> bool:
        """Stop the node if this state directory runs it and restore the host. True if it did."""
        with machine_lock():
            owner_file = self.paths.owner
            try:
                owner = json.loads(owner_file.read_text())
            except (OSError, ValueError):
                return False
            if Path(owner["state"]) != self.state:
                return False
            self._stop_locked()
            return True

    def _stop_locked(self) -> None:
        for name in reversed(PROCESSES[1:]):
            procs.stop(self.state, name)
        # Containers first (their shims and processes), then containerd itself.
        host.kill_all(host.shim_pids(self.paths.containerd_socket))
        procs.stop(self.state, "containerd")
        self._restore()

    def _restore(self) -> None:
        try:
            before = json.loads(self.paths.host_record.read_text())
        except (OSError, ValueError):
            before = None
        if before is not None:
            host.clean(before, [self.paths.state, self.paths.run], self.paths.containerd_socket)
        shutil.rmtree(self.paths.run, ignore_errors=True)

    def _clean_stale(self) -> None:
        """A node whose owner is gone without ``stop``: stop what is left, restore the host."""
        record = self.paths.host_record
        if not record.exists():
            return
        print("[asyncaction] cleaning up after a real node that did not stop", flush=True)
        owner = read_owner(self.paths.run)
        if owner is not None:
            for name in reversed(PROCESSES):
                procs.stop(Path(owner["state"]), name)
        host.kill_all(host.shim_pids(self.paths.containerd_socket))
        before = json.loads(record.read_text())
        extra = [Path(owner["state"])] if owner is not None else []
        host.clean(before, [*extra, self.paths.run], self.paths.containerd_socket)
        shutil.rmtree(self.paths.run, ignore_errors=True)

    def status(self) -> dict[str, bool]:
        return {name: procs.is_running(self.state, name) for name in PROCESSES}


def _run(*argv: str) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def _wait(check: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} not reached in {timeout}s{procs.tail(log)}")
