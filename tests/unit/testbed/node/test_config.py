"""The real node's configuration keeps it on ranges and resolvers the test bed owns."""

from __future__ import annotations

import ipaddress
import json
import resource
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from asyncaction_testbed.node import config as cfg


@pytest.fixture
def paths(tmp_path: Path) -> cfg.NodePaths:
    return cfg.NodePaths(tmp_path / "state", tmp_path / "run")


def test_containerd_uses_the_wrapper_cgroupfs_and_our_cni_dir(paths: cfg.NodePaths) -> None:
    doc = tomllib.loads(cfg.containerd_config(paths, "docker.io/asyncaction/pause:1.20"))
    assert doc["root"] == str(paths.containerd_root)
    assert doc["grpc"]["address"] == str(paths.containerd_socket)
    cri = doc["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "docker.io/asyncaction/pause:1.20"
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert runc == {"BinaryName": str(paths.runc_wrapper), "SystemdCgroup": False}
    assert cri["cni"]["conf_dir"] == str(paths.cni_conf_dir)


def test_socket_paths_fit_a_unix_socket() -> None:
    deep = cfg.NodePaths(
        Path("/tmp/pytest-of-root/pytest-123/testbed0/" + "x" * 60), Path("/run/asyncaction-node")
    )
    assert len(str(deep.containerd_socket)) < 108


def test_pods_get_our_range_without_masquerade(paths: cfg.NodePaths) -> None:
    doc = json.loads(cfg.cni_conflist(paths))
    bridge = doc["plugins"][0]
    assert bridge["bridge"] == cfg.BRIDGE
    assert bridge["ipMasq"] is False
    ranges = bridge["ipam"]["ranges"][0][0]
    assert ranges == {"subnet": cfg.POD_CIDR, "gateway": cfg.NODE_IP}
    assert ipaddress.ip_address(cfg.NODE_IP) in ipaddress.ip_network(cfg.POD_CIDR)
    assert bridge["ipam"]["dataDir"] == str(paths.cni_data_dir)


def test_kubelet_resolves_only_through_our_resolver(paths: cfg.NodePaths) -> None:
    args = cfg.kubelet_args(paths, Path("/k/config"), "pause:1")
    assert f"--resolv-conf={paths.resolv_conf}" in args
    assert f"--cluster-dns={cfg.NODE_IP}" in args
    assert f"--node-ip={cfg.NODE_IP}" in args
    assert "--read-only-port=0" in args
    assert all(str(paths.state) in a for a in args if a.startswith(("--root-dir", "--cert-dir")))
    assert cfg.resolv_conf().splitlines()[-1] == f"nameserver {cfg.NODE_IP}"


def test_node_processes_cannot_reach_cloud_metadata_or_registries() -> None:
    env = cfg.node_env({"PATH": "/bin"})
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["HTTPS_PROXY"] == env["HTTP_PROXY"] == cfg.DEAD_PROXY
    assert "127.0.0.1" in env["NO_PROXY"].split(",")
    assert "169.254.169.254" not in env["NO_PROXY"]


def test_kube_proxy_leaves_conntrack_sysctls_and_binds_the_bridge() -> None:
    doc = json.loads(cfg.kube_proxy_config(Path("/k")))
    assert doc["mode"] == "iptables"
    assert doc["clusterCIDR"] == cfg.POD_CIDR
    assert doc["nodePortAddresses"] == [f"{cfg.NODE_IP}/32"]
    assert doc["conntrack"]["maxPerCore"] == 0
    assert doc["healthzBindAddress"].startswith("127.0.0.1:")


def test_dns_hosts_names_services_with_a_cluster_ip() -> None:
    services = [
        {"metadata": {"name": "hook", "namespace": "sys"}, "spec": {"clusterIP": "10.0.0.9"}},
        {"metadata": {"name": "headless", "namespace": "a"}, "spec": {"clusterIP": "None"}},
        {"metadata": {"name": "ext", "namespace": "a"}, "spec": {"type": "ExternalName"}},
    ]
    assert cfg.dns_hosts(services) == "10.0.0.9 hook.sys.svc.cluster.local hook.sys.svc\n"


def test_dnsmasq_has_no_upstream_and_one_address(paths: cfg.NodePaths) -> None:
    args = cfg.dnsmasq_args(paths)
    assert "--no-resolv" in args
    assert "--no-hosts" in args
    assert not any(a.startswith("--server") for a in args)
    assert f"--listen-address={cfg.NODE_IP}" in args
    assert "--bind-interfaces" in args


@pytest.mark.parametrize(
    ("routes", "clash"),
    [
        (["default", "192.0.2.0/24"], False),
        (["10.200.0.0/16"], True),
        (["10.200.0.128/25"], True),
        (["10.0.0.0/24", "not-a-route"], False),
    ],
)
def test_check_ranges(routes: list[str], clash: bool) -> None:
    assert (cfg.check_ranges(routes) is not None) is clash


def test_runc_wrapper_clamps_oom_score_and_rlimits(tmp_path: Path) -> None:
    """Runs the generated wrapper with `true` standing in for runc."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = {
        "process": {
            "oomScoreAdj": -998,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": hard + 1000, "soft": hard + 1000}],
        }
    }
    (bundle / "config.json").write_text(json.dumps(config))
    wrapper = tmp_path / "runc"
    wrapper.write_text(cfg.runc_wrapper(sys.executable, "/bin/true"))
    wrapper.chmod(0o755)
    subprocess.run(
        [str(wrapper), "--root", "x", "create", "--bundle", str(bundle), "id"], check=True
    )
    fitted = json.loads((bundle / "config.json").read_text())["process"]
    assert fitted["oomScoreAdj"] == 0
    assert fitted["rlimits"][0]["hard"] == hard
    assert fitted["rlimits"][0]["soft"] == hard


def test_runc_wrapper_leaves_other_commands_alone(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"process": {"oomScoreAdj": -5}}')
    wrapper = tmp_path / "runc"
    wrapper.write_text(cfg.runc_wrapper(sys.executable, "/bin/true"))
    wrapper.chmod(0o755)
    subprocess.run([str(wrapper), "state", "id"], check=True, cwd=tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["process"]["oomScoreAdj"] == -5


def test_pods_reach_the_api_server_only_from_the_bridge() -> None:
    rule = cfg.api_dnat_rule("10.0.0.1", 43210)
    assert rule[:2] == ["-i", cfg.BRIDGE]
    assert rule[rule.index("-d") + 1] == "10.0.0.1/32"
    assert rule[rule.index("--dport") + 1] == "443"
    assert rule[-2:] == ["--to-destination", "127.0.0.1:43210"]
