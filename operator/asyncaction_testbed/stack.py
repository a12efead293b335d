"""``make up`` / ``make down``: the whole local system as background processes.

Layout of the state directory (``.local/`` by default, ignored by git):
``controlplane/`` and ``s3/`` (data kept across ``down``/``up``), ``logs/`` (one log per
process), ``pod-logs/`` (what each pod's containers printed), ``pids/``, ``kubeconfig``
(admin), ``env`` (shell-sourceable), ``stores.json`` (the hook's S3 configuration) and
``master-keys`` (mode 0600: the operator's and the hook's, ``asyncaction.keys``).
A second ``up`` while everything runs changes nothing.
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from asyncaction.keys import MASTER_KEYS_ENV
from asyncaction_testbed import procs
from asyncaction_testbed.controlplane import ControlPlane
from asyncaction_testbed.crds import install_crds
from asyncaction_testbed.s3server import S3Server

HOOK_PORT = 18080
SERVICES = ("nodeagent", "hook", "operator")


@dataclass(frozen=True)
class Stack:
    state: Path

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def env_file(self) -> Path:
        return self.state / "env"

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{HOOK_PORT}"

    def control_plane(self) -> ControlPlane:
        return ControlPlane(self.state / "controlplane")

    def s3(self) -> S3Server:
        return S3Server(self.state / "s3")

    def up(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        plane = self.control_plane()
        say("control plane (etcd, kube-apiserver, kube-controller-manager)")
        plane.start()
        shutil.copyfile(plane.admin_kubeconfig, self.kubeconfig)
        say("S3 server (SeaweedFS)")
        s3 = self.s3()
        s3.start()
        say("CRDs")
        install_crds(self.kubeconfig)
        self._write_config(s3)
        python = sys.executable
        kubeconfig = str(self.kubeconfig)
        commands = {
            "nodeagent": [
                python,
                "-m",
                "asyncaction_testbed.nodeagent",
                "--kubeconfig",
                kubeconfig,
                "--log-dir",
                str(self.state / "pod-logs"),
            ],
            "hook": [
                python,
                "-m",
                "asyncaction_hook.main",
                "--host",
                "127.0.0.1",
                "--port",
                str(HOOK_PORT),
                "--kubeconfig",
                kubeconfig,
                "--stores-config",
                str(self.state / "stores.json"),
            ],
            "operator": [python, "-m", "asyncaction.main", "--liveness", ""],
        }
        env = {
            "ASYNCACTION_KUBECONFIG": kubeconfig,
            MASTER_KEYS_ENV: str(self._master_keys()),
            "ASYNCACTION_STORES_CONFIG": str(self.state / "stores.json"),
            "ASYNCACTION_HOOK_URL": self.hook_url,
            "ASYNCACTION_BACKOFF_BASE_SECONDS": "2",
        }
        for name in SERVICES:
            if procs.is_running(self.state, name):
                continue
            say(name)
            procs.start(self.state, name, commands[name], env=env)
        wait_http(f"{self.hook_url}/readyz", 60, self.state / "logs" / "hook.log")
        say(f"ready: source {self.env_file} && kubectl get aa")

    def _master_keys(self) -> Path:
        """The master keys shared by the operator and the hook (kept across `make up`)."""
        path = self.state / "master-keys"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48) + "\n")
        return path

    def _write_config(self, s3: S3Server) -> None:
        (self.state / "pod-logs").mkdir(exist_ok=True)
        stores = s3.stores_document()
        # the demo's data lives under demo/: grant it to namespace default, beside its own
        # area (asyncaction.tenancy; without grants a namespace gets actions/<ns>/ only)
        stores["stores"]["default"]["grants"] = {"default": ["actions/default/", "demo/"]}
        (self.state / "stores.json").write_text(json.dumps(stores, indent=2))
        env = {
            "KUBECONFIG": str(self.kubeconfig.resolve()),
            "AWS_ENDPOINT_URL_S3": s3.endpoint,
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": s3.region,
            "ASYNCACTION_BUCKET": s3.bucket,
            "ASYNCACTION_HOOK_URL": self.hook_url,
        }
        lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
        self.env_file.write_text("# written by `make up`\n" + "\n".join(lines) + "\n")

    def down(self) -> None:
        for name in reversed(SERVICES):
            if procs.stop(self.state, name):
                say(f"stopped {name}")
        self.s3().stop()
        self.control_plane().stop()
        say("stopped S3 and the control plane (data kept in .local/; `make clean` removes it)")

    def status(self) -> dict[str, bool]:
        running = {name: procs.is_running(self.state, name) for name in SERVICES}
        running["s3"] = self.s3().running()
        running["controlplane"] = self.control_plane().running()
        return running


def say(message: str) -> None:
    print(f"[asyncaction] {message}", flush=True)


def wait_http(url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{url} did not become ready in {timeout}s; {log}:\n{tail}")
