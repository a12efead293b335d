"""Which cluster and namespace: kubeconfig files, contexts and in-cluster service accounts,
resolved as kubectl does (explicit flag, then the context's namespace, then ``default``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def kubeconfig_paths(explicit: str | os.PathLike[str] | None) -> str | None:
    """The kubeconfig to load: ``--kubeconfig``, else ``$KUBECONFIG`` (a path list), else
    ``~/.kube/config`` when it exists; None means in-cluster configuration."""
    if explicit:
        return str(explicit)
    env = os.environ.get("KUBECONFIG")
    if env:
        return env
    default = Path.home() / ".kube" / "config"
    return str(default) if default.exists() else None


def context_namespace(contexts: list[Any], active: Any, wanted: str | None) -> str | None:
    """The namespace the chosen context sets, if any (pure: takes what the loader listed)."""
    chosen = active
    if wanted:
        chosen = next((c for c in contexts if c.get("name") == wanted), None)
        if chosen is None:
            raise ValueError(f'context "{wanted}" does not exist')
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


def in_cluster_namespace() -> str | None:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def first_path(paths: str) -> str:
    return paths.split(os.pathsep)[0]
