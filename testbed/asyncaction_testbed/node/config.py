"""Pure configuration of the real node: containerd, CNI, kubelet, kube-proxy, DNS.

Every function here returns text or argv from its inputs and touches nothing, so the
safety properties (ranges the test bed owns, no pull ever leaving the machine, the
kubelet reading only the resolv.conf we write, loopback-only listeners) are unit-tested.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_NAME = "asyncaction-node"
BRIDGE = "asyncaction0"
POD_CIDR = "10.200.0.0/24"
NODE_IP = "10.200.0.1"
CLUSTER_DOMAIN = "cluster.local"
# containerd's registry client goes through this proxy, which nothing serves: an image
# that is not present fails at once instead of being fetched from the Internet.
DEAD_PROXY = "http://127.0.0.1:9"
# Our own chains (mangle table): pods talk to pods and to the node, never past it, and
# never to the kubelet's port.
FORWARD_CHAIN = "ASYNCACTION-NODE"
INPUT_CHAIN = "ASYNCACTION-NODE-IN"
API_CHAIN = "ASYNCACTION-NODE-API"  # nat: the kubernetes Service for pods
KUBELET_PORT = 10250


@dataclass(frozen=True)
class NodePaths:
    """Where the node keeps its files: ``state`` (kept data, logs) and ``run`` (sockets).

    Sockets live under ``run`` (``/run/asyncaction-node``) because a pytest temporary
    directory is too long for a unix socket path (108 bytes).
    """

    state: Path
    run: Path

    @property
    def containerd_config(self) -> Path:
        return self.state / "containerd.toml"

    @property
    def containerd_root(self) -> Path:
        return self.state / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.run / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def runc_wrapper(self) -> Path:
        return self.state / "runc-wrapper"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def cni_data_dir(self) -> Path:
        return self.state / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def resolv_conf(self) -> Path:
        return self.state / "resolv.conf"

    @property
    def kube_proxy_config(self) -> Path:
        return self.state / "kube-proxy.yaml"

    @property
    def dns_hosts_dir(self) -> Path:
        return self.state / "dns-hosts"

    @property
    def host_record(self) -> Path:
        """What the host looked like before the node started (restored by ``down``)."""
        return self.run / "host-before.json"

    @property
    def owner(self) -> Path:
        return self.run / "owner.json"


def check_ranges(routes: Iterable[str], pod_cidr: str = POD_CIDR) -> str | None:
    """Why ``pod_cidr`` cannot be used here (it overlaps a route of the host), or None."""
    ours = ipaddress.ip_network(pod_cidr)
    for route in routes:
        if route == "default":
            continue
        try:
            theirs = ipaddress.ip_network(route, strict=False)
        except ValueError:
            continue
        if theirs.version == ours.version and theirs.overlaps(ours):
            return f"the pod range {pod_cidr} overlaps the host's route {route}"
    return None


def containerd_config(paths: NodePaths, sandbox_image: str, runc: str = "") -> str:
    """containerd 1.6 config: runc through our wrapper, cgroupfs, CNI from our dir."""
    runtime = "[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.runc]"
    options = "[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.runc.options]"
    lines = [
        "version = 2",
        f"root = {json.dumps(str(paths.containerd_root))}",
        f"state = {json.dumps(str(paths.containerd_state))}",
        "[grpc]",
        f"  address = {json.dumps(str(paths.containerd_socket))}",
        "[ttrpc]",
        f"  address = {json.dumps(str(paths.containerd_socket) + '.ttrpc')}",
        "[debug]",
        '  level = "warn"',
        "[metrics]",
        '  address = ""',
        "[plugins.'io.containerd.grpc.v1.cri']",
        f"  sandbox_image = {json.dumps(sandbox_image)}",
        "  enable_selinux = false",
        "  disable_apparmor = true",
        "  enable_unprivileged_ports = false",
        "  [plugins.'io.containerd.grpc.v1.cri'.containerd]",
        '    snapshotter = "overlayfs"',
        '    default_runtime_name = "runc"',
        f"    {runtime}",
        '      runtime_type = "io.containerd.runc.v2"',
        f"      {options}",
        f"        BinaryName = {json.dumps(runc or str(paths.runc_wrapper))}",
        "        SystemdCgroup = false",
        "  [plugins.'io.containerd.grpc.v1.cri'.cni]",
        '    bin_dir = "/usr/lib/cni"',
        f"    conf_dir = {json.dumps(str(paths.cni_conf_dir))}",
        "    max_conf_num = 1",
    ]
    return "\n".join(lines) + "\n"


def cni_conflist(paths: NodePaths, pod_cidr: str = POD_CIDR, gateway: str = NODE_IP) -> str:
    """A bridge network on our own bridge and range; no masquerade: nothing leaves."""
    doc = {
        "cniVersion": "0.4.0",
        "name": "asyncaction",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr, "gateway": gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.cni_data_dir),
                },
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def resolv_conf(nameserver: str = NODE_IP) -> str:
    """The only resolver the kubelet and pods see: the test bed's dnsmasq."""
    return f"# written by the asyncaction test bed\nnameserver {nameserver}\n"


def kubelet_args(
    paths: NodePaths,
    kubeconfig: Path,
    pause_image: str,
    *,
    node_ip: str = NODE_IP,
    node_name: str = NODE_NAME,
) -> list[str]:
    """kubelet 1.20 flags: remote runtime, cgroupfs, everything under the test bed's dirs."""
    return [
        f"--kubeconfig={kubeconfig}",
        "--container-runtime=remote",
        f"--container-runtime-endpoint=unix://{paths.containerd_socket}",
        "--cgroup-driver=cgroupfs",
        f"--root-dir={paths.kubelet_root}",
        f"--cert-dir={paths.kubelet_root / 'pki'}",
        f"--volume-plugin-dir={paths.kubelet_root / 'volume-plugins'}",
        f"--node-ip={node_ip}",
        f"--address={node_ip}",
        f"--port={KUBELET_PORT}",
        f"--hostname-override={node_name}",
        f"--resolv-conf={paths.resolv_conf}",
        f"--cluster-dns={node_ip}",
        f"--cluster-domain={CLUSTER_DOMAIN}",
        f"--pod-infra-container-image={pause_image}",
        "--read-only-port=0",
        "--healthz-bind-address=127.0.0.1",
        "--fail-swap-on=false",
        # Images cannot be pulled again: never garbage-collect them.
        "--image-gc-high-threshold=100",
        "--image-gc-low-threshold=99",
        "--eviction-hard=memory.available<100Mi,nodefs.available<2%,imagefs.available<2%",
        "--max-pods=40",
        "--v=1",
    ]


def kube_proxy_config(kubeconfig: Path, pod_cidr: str = POD_CIDR, node_ip: str = NODE_IP) -> str:
    """kube-proxy in iptables mode; NodePorts only on the bridge; conntrack sysctls untouched."""
    doc: dict[str, Any] = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": node_ip,
        "clusterCIDR": pod_cidr,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{node_ip}/32"],
        # 0 means "leave the host's value": kube-proxy changes no conntrack sysctl.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    return json.dumps(doc, indent=2) + "\n"


def api_dnat_rule(service_ip: str, apiserver_port: int, bridge: str = BRIDGE) -> list[str]:
    """The rule sending pods' ``service_ip:443`` to the API server on loopback."""
    return [
        "-i",
        bridge,
        "-d",
        f"{service_ip}/32",
        "-p",
        "tcp",
        "--dport",
        "443",
        "-j",
        "DNAT",
        "--to-destination",
        f"127.0.0.1:{apiserver_port}",
    ]


def node_env(base: Mapping[str, str]) -> dict[str, str]:
    """Environment of every node process: no cloud metadata, no way out through a proxy."""
    no_proxy = f"127.0.0.1,localhost,{POD_CIDR},{NODE_IP}"
    return {
        **base,
        "AWS_EC2_METADATA_DISABLED": "true",
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def dns_hosts(services: Iterable[Mapping[str, Any]], domain: str = CLUSTER_DOMAIN) -> str:
    """A hosts file naming every Service with a cluster IP, as cluster DNS would."""
    lines: list[str] = []
    for svc in services:
        meta = svc.get("metadata", {})
        ip = svc.get("spec", {}).get("clusterIP")
        if not ip or ip == "None":
            continue
        name, namespace = meta.get("name"), meta.get("namespace")
        lines.append(f"{ip} {name}.{namespace}.svc.{domain} {name}.{namespace}.svc")
    return "".join(f"{line}\n" for line in sorted(lines))


def dnsmasq_args(paths: NodePaths, listen: str = NODE_IP) -> list[str]:
    """dnsmasq answering from our hosts dir only: no upstream, no host files, one address."""
    return [
        "dnsmasq",
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        f"--hostsdir={paths.dns_hosts_dir}",
        f"--listen-address={listen}",
        "--bind-interfaces",
        "--port=53",
        "--user=root",
        "--group=root",
        f"--pid-file={paths.state / 'dnsmasq.pid'}",
        "--local-ttl=1",
        f"--local=/{CLUSTER_DOMAIN}/",
        "--log-facility=-",
    ]


RUNC_WRAPPER = '''#!{python}
"""runc, made to fit a root without CAP_SYS_RESOURCE (written by the asyncaction test bed).

Before `runc create|run`, rewrites the bundle's config.json: a negative oomScoreAdj
becomes 0 and rlimits are capped at this process's hard limits. Then execs runc.
"""
import json, os, resource, sys

NAMES = {{"RLIMIT_" + n: getattr(resource, "RLIMIT_" + n) for n in
         ("NOFILE", "NPROC", "CORE", "MEMLOCK", "STACK", "AS", "CPU", "DATA",
          "FSIZE", "LOCKS", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME", "SIGPENDING")
         if hasattr(resource, "RLIMIT_" + n)}}

def fit(config):
    proc = config.get("process") or {{}}
    if proc.get("oomScoreAdj", 0) < 0:
        proc["oomScoreAdj"] = 0
    for limit in proc.get("rlimits") or []:
        which = NAMES.get(limit.get("type"))
        if which is None:
            continue
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY:
            limit["hard"] = min(limit.get("hard", hard), hard)
            limit["soft"] = min(limit.get("soft", hard), limit["hard"])

args = sys.argv[1:]
if any(a in ("create", "run") for a in args):
    bundle = "."
    for i, a in enumerate(args):
        if a in ("--bundle", "-b") and i + 1 < len(args):
            bundle = args[i + 1]
        elif a.startswith("--bundle="):
            bundle = a.split("=", 1)[1]
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    fit(config)
    with open(path, "w") as f:
        json.dump(config, f)
os.execv({runc!r}, [{runc!r}, *args])
'''


def runc_wrapper(python: str, runc: str) -> str:
    return RUNC_WRAPPER.format(python=python, runc=runc)
