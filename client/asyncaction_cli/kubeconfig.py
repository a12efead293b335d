"""Why the kubeconfig cannot be used, said before the ``kubernetes`` loader says it worse.

The loader's own errors name neither the file nor the setting that chose it ("Service
host/port is not set." when there is no kubeconfig at all, "No configuration found." for
a missing file, a bare YAML ``ParserError``, a ``TypeError`` for a file holding a list).
``check`` reads the same files the loader will (``--kubeconfig``, else ``$KUBECONFIG``, a
path list, else ``~/.kube/config``) and raises ``ClientError`` with one line naming the
file, the setting and what is wrong; kubectl's rules: missing files in a list are
skipped, the first file to set ``current-context`` wins, and the chosen context's cluster
and user must exist.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from asyncaction_client.connection import kubeconfig_paths
from asyncaction_client.errors import ClientError


def one_line_yaml_error(exc: yaml.YAMLError) -> str:
    """``problem (line L, column C)`` of a YAML error, instead of its multi-line report."""
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid"
        if exc.context and problem.startswith("but "):  # "expected X, but found Y"
            problem = f"{exc.context}, {problem}"
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{problem}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _setting(explicit: str | None) -> str:
    if explicit:
        return "--kubeconfig"
    return "KUBECONFIG" if os.environ.get("KUBECONFIG") else "~/.kube/config"


def _named(document: dict[str, Any], section: str) -> dict[str, Any]:
    """``{name: entry}`` of a kubeconfig list (``contexts``, ``clusters``, ``users``)."""
    entries = document.get(section)
    if not isinstance(entries, list):
        return {}
    return {e["name"]: e for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)}


def _load(path: str, where: str) -> dict[str, Any] | None:
    """The kubeconfig document at ``path``; None when the file does not exist."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ClientError(f"kubeconfig {path} ({where}) is a directory, not a file") from None
    except OSError as exc:
        raise ClientError(f"kubeconfig {path} ({where}): {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ClientError(f"kubeconfig {path} ({where}) is not UTF-8 text") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClientError(
            f"kubeconfig {path} ({where}) is not valid YAML: {one_line_yaml_error(exc)}"
        ) from None
    if document is None:
        raise ClientError(f"kubeconfig {path} ({where}) is empty")
    if not isinstance(document, dict):
        raise ClientError(
            f"kubeconfig {path} ({where}) is not a kubeconfig: it holds a YAML "
            f"{type(document).__name__}, not a mapping with clusters, users and contexts"
        )
    return document


def check(explicit: str | None, context: str | None) -> None:
    """Raise ``ClientError`` naming what is wrong when the kubeconfig cannot be used."""
    paths = kubeconfig_paths(explicit)
    if paths is None:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return  # in a pod: the loader uses the service account
        raise ClientError(
            "no kubeconfig: KUBECONFIG is not set and ~/.kube/config does not exist "
            "(give --kubeconfig FILE)"
        )
    where = _setting(explicit)
    files = [p for p in paths.split(os.pathsep) if p]
    documents = [(p, d) for p in files if (d := _load(p, where)) is not None]
    if not documents:
        raise ClientError(f"kubeconfig {paths} ({where}): no such file")
    shown = os.pathsep.join(p for p, _ in documents)
    contexts: dict[str, Any] = {}
    clusters: dict[str, Any] = {}
    users: dict[str, Any] = {}
    current = None
    origin: dict[tuple[str, str], str] = {}  # (kind, name): the file defining it
    for path, document in documents:  # the first file to define a name wins, as kubectl
        contexts = _named(document, "contexts") | contexts
        clusters = _named(document, "clusters") | clusters
        users = _named(document, "users") | users
        for kind in ("cluster", "user"):
            for name in _named(document, kind + "s"):
                origin.setdefault((kind, name), path)
        current = current or document.get("current-context")
    chosen = context or current
    if not chosen:
        raise ClientError(
            f"kubeconfig {shown} ({where}) has no current-context: give --context NAME"
            + (f" (one of {', '.join(sorted(contexts))})" if contexts else "")
        )
    if chosen not in contexts:
        raise ClientError(
            f'context "{chosen}" ({"--context" if context else "current-context"}) is not in '
            f"kubeconfig {shown} ({where})"
            + (f"; it has {', '.join(sorted(contexts))}" if contexts else "; it has no contexts")
        )
    entry = contexts[chosen].get("context")
    entry = entry if isinstance(entry, dict) else {}
    for kind, known in (("cluster", clusters), ("user", users)):
        named = entry.get(kind)
        if kind == "user" and not named:
            continue  # no user: anonymous requests, as kubectl sends them
        if named not in known:
            raise ClientError(
                f'context "{chosen}" names {kind} "{named or ""}", which is not in '
                f"kubeconfig {shown} ({where})"
            )
    cluster, user = str(entry["cluster"]), str(entry.get("user") or "")
    cluster_entry = _section(clusters[cluster], "cluster")
    user_entry = _section(users[user], "user") if user else {}
    problem = (
        _server_problem(cluster, cluster_entry)
        or _exec_problem(user, user_entry)
        or _missing_file("cluster", cluster, cluster_entry, origin)
        or _missing_file("user", user, user_entry, origin)
    )
    if problem:
        raise ClientError(f'{problem}, in kubeconfig {shown} ({where}) for context "{chosen}"')


def _section(entry: dict[str, Any], key: str) -> dict[str, Any]:
    inner = entry.get(key)
    return inner if isinstance(inner, dict) else {}


def _server_problem(name: str, cluster: dict[str, Any]) -> str | None:
    """The loader would send requests to ``http://HOST:80`` for a server without a
    scheme, and fail on the first request with 'No host specified' for none."""
    server = cluster.get("server")
    if not server:
        return f'cluster "{name}" has no server'
    try:
        parts = urllib.parse.urlsplit(str(server))
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return f'cluster "{name}" server "{server}" is not a URL ({exc})'
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f'cluster "{name}" server "{server}" is not an https:// URL'
    return None


FILE_KEYS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")


def _missing_file(
    kind: str, name: str, entry: dict[str, Any], origin: dict[tuple[str, str], str]
) -> str | None:
    """A certificate, key or token file the entry names that does not exist (relative
    paths are relative to the kubeconfig that defines the entry, as kubectl has them)."""
    base = Path(origin.get((kind, name), ".")).parent
    for key in FILE_KEYS:
        named = entry.get(key)
        if named and not (base / str(named)).expanduser().is_file():
            return f'{kind} "{name}" {key} "{named}" does not exist'
    return None


def _exec_problem(name: str, user: dict[str, Any]) -> str | None:
    """A credential plugin that is not installed: the loader only logs it and sends the
    requests without credentials, so the error would be a 401 or a refused connection."""
    plugin = user.get("exec")
    command = plugin.get("command") if isinstance(plugin, dict) else None
    if command and shutil.which(str(command)) is None:
        return f'user "{name}" runs credential plugin "{command}", which is not found'
    return None
