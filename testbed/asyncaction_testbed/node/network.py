"""The host networking the node sets up: its bridge, guard chains and the API for pods.

Everything here changes the host (a link, iptables chains and rules, two sysctls), and
everything it adds is in ``host.snapshot()``'s view, so ``host.clean`` (``make down``)
removes it again. Kept together so what the node does to the host's network can be read
in one place: the bridge ``asyncaction0`` with the node's address, a FORWARD guard that
keeps pods' traffic on the bridge, an INPUT guard that keeps pods off the kubelet's API,
and a DNAT that lets pods reach the loopback-only API server at the ``kubernetes``
Service's address.
"""

from __future__ import annotations

import subprocess
import urllib.parse
from pathlib import Path

import yaml

from asyncaction_testbed.node import config as cfg
from asyncaction_testbed.node import host


def set_up_bridge() -> None:
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


def route_api_for_pods(kubeconfig: Path) -> None:
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


def api_rule_first() -> bool:
    """Once kube-proxy prepended its jump, put ours back in front of it (done: True).

    kube-proxy only checks that its jump exists, so the order then holds.
    """
    rules = subprocess.run(
        ["iptables", "-t", "nat", "-S", "PREROUTING"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    jumps = [r.rsplit(" ", 1)[-1] for r in rules if r.startswith("-A PREROUTING") and "-j " in r]
    if "KUBE-SERVICES" not in jumps or cfg.API_CHAIN not in jumps:
        return cfg.API_CHAIN not in jumps  # no API rule to order (not a loopback server)
    if jumps.index(cfg.API_CHAIN) < jumps.index("KUBE-SERVICES"):
        return True
    _run("iptables", "-t", "nat", "-D", "PREROUTING", "-j", cfg.API_CHAIN)
    _run("iptables", "-t", "nat", "-I", "PREROUTING", "1", "-j", cfg.API_CHAIN)
    return True


def _run(*argv: str) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
