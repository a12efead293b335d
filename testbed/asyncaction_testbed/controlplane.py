"""A real Kubernetes control plane as local processes (etcd, apiserver, controller manager).

No kubelet and no container runtime: Pods are played by ``asyncaction_testbed.nodeagent``.
Everything listens on loopback ports chosen at the first start and kept in
``<state>/controlplane.json`` so restarts reuse them (and existing kubeconfigs stay valid).

Two identities get static tokens: ``admin`` (group ``system:masters``) and
``restricted`` (no RBAC bindings at all), for least-privilege tests that bind only the
roles the operator or hook declares.

Set ``ASYNCACTION_TEST_KUBECONFIG`` to run the tests against an existing cluster instead
(``ExistingCluster``): nothing is started or stopped then.

CLI: ``python -m asyncaction_testbed.controlplane start|stop|status --state DIR``.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from asyncaction_testbed import procs
from asyncaction_testbed.binaries import find_binaries
from asyncaction_testbed.pki import ensure_pki

SERVICE_RANGE = "10.0.0.0/24"
# First address of the service range: written into the `kubernetes` Service only;
# a loopback advertise address makes the apiserver log endpoint errors every 10 s.
ADVERTISE_ADDRESS = "10.0.0.1"
# endpoint, endpointslice and endpointslicemirroring: Services work on the real node
# (kube-proxy 1.20 reads EndpointSlices, also for hand-written Endpoints).
CONTROLLERS = (
    "job,garbagecollector,serviceaccount,serviceaccount-token,namespace,ttl-after-finished,"
    "endpoint,endpointslice,endpointslicemirroring"
)


def render_kubeconfig(server: str, ca_pem: bytes, user: str, token: str, context: str) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "asyncaction-local",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": "asyncaction-local", "user": user}}],
        "current-context": context,
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int

    @classmethod
    def load_or_pick(cls, path: Path) -> Ports:
        saved = json.loads(path.read_text()) if path.exists() else {}
        ports = cls(
            etcd_client=procs.free_port(saved.get("etcd_client")),
            etcd_peer=procs.free_port(saved.get("etcd_peer")),
            apiserver=procs.free_port(saved.get("apiserver")),
        )
        path.write_text(json.dumps(vars(ports)))
        return ports


class ControlPlane:
    names = ("etcd", "kube-apiserver", "kube-controller-manager")

    def __init__(self, state_dir: Path) -> None:
        self.state = Path(state_dir).resolve()

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "admin.kubeconfig"

    @property
    def restricted_kubeconfig(self) -> Path:
        return self.state / "restricted.kubeconfig"

    @property
    def server(self) -> str:
        ports = json.loads((self.state / "controlplane.json").read_text())
        return f"https://127.0.0.1:{ports['apiserver']}"

    def running(self) -> bool:
        return all(procs.is_running(self.state, name) for name in self.names)

    def _tokens(self) -> dict[str, str]:
        path = self.state / "tokens.json"
        if not path.exists():
            path.write_text(
                json.dumps({"admin": secrets.token_hex(24), "restricted": secrets.token_hex(24)})
            )
            path.chmod(0o600)
        tokens: dict[str, str] = json.loads(path.read_text())
        return tokens

    def start(self, timeout: float = 120) -> None:
        if self.running() and self._healthy():
            return
        self.stop()
        self.state.mkdir(parents=True, exist_ok=True)
        binaries = find_binaries()
        pki = ensure_pki(self.state / "pki", ADVERTISE_ADDRESS)
        tokens = self._tokens()
        token_file = self.state / "tokens.csv"
        token_file.write_text(
            f'{tokens["admin"]},admin,admin,"system:masters"\n'
            f"{tokens['restricted']},restricted,restricted\n"
        )
        ports = Ports.load_or_pick(self.state / "controlplane.json")
        server = f"https://127.0.0.1:{ports.apiserver}"
        ca_pem = pki.ca_cert.read_bytes()
        self.admin_kubeconfig.write_text(
            render_kubeconfig(server, ca_pem, "admin", tokens["admin"], "asyncaction-local")
        )
        self.restricted_kubeconfig.write_text(
            render_kubeconfig(
                server, ca_pem, "restricted", tokens["restricted"], "asyncaction-restricted"
            )
        )

        etcd_url = f"http://127.0.0.1:{ports.etcd_client}"
        peer_url = f"http://127.0.0.1:{ports.etcd_peer}"
        procs.start(
            self.state,
            "etcd",
            [
                str(binaries.etcd),
                "--name",
                "default",
                "--data-dir",
                str(self.state / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                peer_url,
                "--initial-advertise-peer-urls",
                peer_url,
                "--initial-cluster",
                f"default={peer_url}",
                "--log-level",
                "warn",
            ],
            env={"ETCD_UNSUPPORTED_ARCH": ""},
        )
        procs.wait_tcp(ports.etcd_client, 30, "etcd", procs.log_file(self.state, "etcd"))
        procs.start(
            self.state,
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.apiserver}",
                "--insecure-port=0",
                f"--advertise-address={ADVERTISE_ADDRESS}",
                f"--cert-dir={self.state / 'pki'}",
                f"--tls-cert-file={pki.server_cert}",
                f"--tls-private-key-file={pki.server_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--token-auth-file={token_file}",
                "--authorization-mode=RBAC",
                # As on OpenShift and hardened clusters: setting blockOwnerDeletion in an
                # owner reference needs update on the owner's finalizers (the operator's
                # role must say so; tests/e2e/test_least_privilege.py runs under it).
                "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_RANGE}",
                "--allow-privileged=true",
                # Reach a real node's kubelet (logs, exec) by its address, never by
                # resolving its name through the host's resolver.
                "--kubelet-preferred-address-types=InternalIP",
                "--v=0",
            ],
        )
        self._wait_ready(timeout)
        procs.start(
            self.state,
            "kube-controller-manager",
            [
                str(binaries.kube_controller_manager),
                f"--kubeconfig={self.admin_kubeconfig}",
                f"--controllers={CONTROLLERS}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=false",
                "--port=0",
                "--secure-port=0",
                "--v=0",
            ],
        )
        self._wait_default_service_account(timeout)

    def stop(self) -> None:
        for name in reversed(self.names):
            procs.stop(self.state, name)

    def _get(self, path: str) -> tuple[int, bytes]:
        ctx = ssl.create_default_context(cafile=str(self.state / "pki" / "ca.crt"))
        request = urllib.request.Request(  # noqa: S310 - loopback https
            self.server + path, headers={"Authorization": f"Bearer {self._tokens()['admin']}"}
        )
        try:
            with urllib.request.urlopen(request, context=ctx, timeout=5) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (OSError, ssl.SSLError):
            return 0, b""

    def _healthy(self) -> bool:
        return (self.state / "controlplane.json").exists() and self._get("/readyz")[0] == 200

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not procs.is_running(self.state, "kube-apiserver"):
                break
            if self._healthy():
                return
            time.sleep(0.3)
        log = procs.log_file(self.state, "kube-apiserver")
        raise RuntimeError(f"kube-apiserver not ready{procs.tail(log)}")

    def _wait_default_service_account(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200:
                return
            if not procs.is_running(self.state, "kube-controller-manager"):
                break
            time.sleep(0.3)
        log = procs.log_file(self.state, "kube-controller-manager")
        raise RuntimeError(
            f"no default ServiceAccount: controller manager not working{procs.tail(log)}"
        )


class ExistingCluster:
    """A cluster someone else runs (kind, a dev cluster): used as is, never started or stopped."""

    def __init__(self, kubeconfig: Path) -> None:
        self.admin_kubeconfig = Path(kubeconfig)
        self.restricted_kubeconfig: Path | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def running(self) -> bool:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncaction_testbed.controlplane")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--state", type=Path, default=Path(".local/controlplane"))
    args = parser.parse_args(argv)
    plane = ControlPlane(args.state)
    if args.command == "start":
        plane.start()
        print(f"ready: KUBECONFIG={plane.admin_kubeconfig}")
    elif args.command == "stop":
        plane.stop()
    else:
        print("running" if plane.running() else "stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
