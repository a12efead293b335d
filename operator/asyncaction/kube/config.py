"""Where the API server is and how to authenticate: in-cluster or from a kubeconfig.

Supports what the operator's users actually run with: a service-account token in a pod
(re-read, because bound tokens rotate), or a kubeconfig with a bearer token, a token
file or a client certificate, and a CA bundle (inline or by file).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Bound service-account tokens rotate (about hourly); re-reading each minute follows them
# without a file read per request on the event loop.
TOKEN_REREAD_SECONDS = 60


@functools.lru_cache(maxsize=8)
def _read_token(path: str, epoch: int) -> str:
    return Path(path).read_text().strip()


class ConfigError(Exception):
    """No usable connection configuration was found."""


@dataclass(frozen=True)
class ConnectionInfo:
    server: str
    ca_file: str | None = None
    insecure: bool = False
    token: str | None = None
    token_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    default_namespace: str = "default"

    def bearer_token(self) -> str | None:
        if self.token_file:
            return _read_token(self.token_file, int(time.monotonic() // TOKEN_REREAD_SECONDS))
        return self.token

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _materialise(data_b64: str | None, file: str | None, base: Path, suffix: str) -> str | None:
    """A kubeconfig may embed a PEM (``*-data``) or name a file relative to itself.

    Embedded PEMs go to a private directory under a name derived from their content,
    so loading the same kubeconfig again (kopf re-logins) reuses the file.
    """
    if data_b64:
        content = base64.b64decode(data_b64)
        directory = Path(tempfile.gettempdir()) / f"asyncaction-{os.getuid()}"
        directory.mkdir(mode=0o700, exist_ok=True)
        path = directory / (hashlib.sha256(content).hexdigest()[:24] + suffix)
        if not path.exists():
            fd, name = tempfile.mkstemp(dir=directory, suffix=suffix)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(name, path)
        return str(path)
    if file:
        return str((base / file).resolve())
    return None


def _pick(items: list[dict[str, Any]], name: str, key: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            value = item.get(key)
            return value if isinstance(value, dict) else {}
    raise ConfigError(f"kubeconfig names {key} {name!r} but does not define it")


def from_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> ConnectionInfo:
    file = Path(path)
    doc = yaml.safe_load(file.read_text()) or {}
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise ConfigError(f"{file}: no current-context")
    ctx = _pick(doc.get("contexts", []), ctx_name, "context")
    cluster = _pick(doc.get("clusters", []), ctx["cluster"], "cluster")
    user = _pick(doc.get("users", []), ctx["user"], "user") if ctx.get("user") else {}
    base = file.parent
    return ConnectionInfo(
        server=str(cluster["server"]).rstrip("/"),
        ca_file=_materialise(
            cluster.get("certificate-authority-data"),
            cluster.get("certificate-authority"),
            base,
            ".crt",
        ),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        token=user.get("token"),
        token_file=str(base / user["tokenFile"]) if user.get("tokenFile") else None,
        cert_file=_materialise(
            user.get("client-certificate-data"), user.get("client-certificate"), base, ".crt"
        ),
        key_file=_materialise(user.get("client-key-data"), user.get("client-key"), base, ".key"),
        default_namespace=str(ctx.get("namespace") or "default"),
    )


def in_cluster() -> ConnectionInfo | None:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not (SA_DIR / "token").exists():
        return None
    if ":" in host:
        host = f"[{host}]"
    namespace_file = SA_DIR / "namespace"
    return ConnectionInfo(
        server=f"https://{host}:{port}",
        ca_file=str(SA_DIR / "ca.crt"),
        token_file=str(SA_DIR / "token"),
        default_namespace=(
            namespace_file.read_text().strip() if namespace_file.exists() else "default"
        ),
    )


def load_connection(kubeconfig: str | os.PathLike[str] | None = None) -> ConnectionInfo:
    """An explicit kubeconfig, else in-cluster, else ``$KUBECONFIG``, else ``~/.kube/config``."""
    if kubeconfig:
        return from_kubeconfig(kubeconfig)
    info = in_cluster()
    if info is not None:
        return info
    env = os.environ.get("KUBECONFIG")
    candidates = [p for p in (env or "").split(os.pathsep) if p]
    candidates.append(str(Path.home() / ".kube" / "config"))
    for candidate in candidates:
        if Path(candidate).exists():
            return from_kubeconfig(candidate)
    raise ConfigError(
        "no Kubernetes configuration: not in a cluster, and neither $KUBECONFIG nor "
        "~/.kube/config exists (pass --kubeconfig)"
    )
