"""Find etcd, kube-apiserver and kube-controller-manager, building them if need be.

Lookup order: the directory in ``KUBEBUILDER_ASSETS`` (the envtest convention), then
``PATH``, then this project's cache (``~/.cache/asyncaction/kube-1.20/bin``). When the
Kubernetes binaries are nowhere, a Debian-like system builds them from Debian's source
package (``scripts/build-kube.sh``, about 6 minutes on 2 cores, once); elsewhere the
error says what to install.

``python -m asyncaction_testbed.binaries`` ensures them and prints where they are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KUBE_VERSION = "1.20"
NAMES = ("etcd", "kube-apiserver", "kube-controller-manager")
# The real node's binaries, built from the same source with `-tags providerless`.
NODE_NAMES = ("kubelet", "kube-proxy", "kube-scheduler", "pause")
BUILD_SCRIPT = Path(__file__).parent / "scripts" / "build-kube.sh"


class BinariesNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class KubeBinaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME", "~")).expanduser() / ".cache")
    return base / "asyncaction" / f"kube-{KUBE_VERSION}"


def search_dirs(env: Mapping[str, str], cache: Path) -> list[Path]:
    dirs: list[Path] = []
    if env.get("KUBEBUILDER_ASSETS"):
        dirs.append(Path(env["KUBEBUILDER_ASSETS"]))
    dirs += [Path(p) for p in env.get("PATH", "").split(os.pathsep) if p]
    dirs.append(cache / "bin")
    return dirs


def locate(dirs: Sequence[Path], names: Sequence[str] = NAMES) -> dict[str, Path]:
    """The first executable of each name along ``dirs`` (pure apart from stat calls)."""
    found: dict[str, Path] = {}
    for name in names:
        for directory in dirs:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found[name] = candidate
                break
    return found


def _as_binaries(found: Mapping[str, Path]) -> KubeBinaries:
    return KubeBinaries(found["etcd"], found["kube-apiserver"], found["kube-controller-manager"])


def find_binaries(*, build: bool = True, env: Mapping[str, str] | None = None) -> KubeBinaries:
    env = os.environ if env is None else env
    cache = cache_dir(env)
    found = locate(search_dirs(env, cache))
    if len(found) == len(NAMES):
        return _as_binaries(found)
    missing = [n for n in NAMES if n not in found]
    if not build or not shutil.which("apt-get"):
        raise BinariesNotFound(
            f"missing {', '.join(missing)}. Set KUBEBUILDER_ASSETS to a directory holding "
            "etcd, kube-apiserver and kube-controller-manager (for example from "
            "`setup-envtest use`), or put them on PATH, or point the tests at an existing "
            "cluster with ASYNCACTION_TEST_KUBECONFIG."
        )
    print(f"[asyncaction] building {', '.join(missing)} into {cache} (once)", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bash", str(BUILD_SCRIPT), str(cache)], check=True)
    found = locate([*search_dirs(env, cache), Path("/usr/bin")])
    if len(found) != len(NAMES):
        raise BinariesNotFound(f"build finished but {set(NAMES) - set(found)} still missing")
    return _as_binaries(found)


def find_node_binaries(
    *, build: bool = True, env: Mapping[str, str] | None = None
) -> dict[str, Path]:
    """kubelet, kube-proxy, kube-scheduler and pause: only from the project's cache.

    Never from PATH: a kubelet built with cloud providers may call a metadata address,
    so only binaries built here with ``-tags providerless`` are used.
    """
    env = os.environ if env is None else env
    cache = cache_dir(env)
    found = locate([cache / "bin"], NODE_NAMES)
    if len(found) == len(NODE_NAMES):
        return found
    missing = [n for n in NODE_NAMES if n not in found]
    if not build or not shutil.which("apt-get"):
        raise BinariesNotFound(f"missing node binaries {', '.join(missing)} in {cache / 'bin'}")
    print(f"[asyncaction] building {', '.join(missing)} into {cache} (once)", file=sys.stderr)
    subprocess.run(["bash", str(BUILD_SCRIPT), str(cache), *missing], check=True)
    found = locate([cache / "bin"], NODE_NAMES)
    if len(found) != len(NODE_NAMES):
        raise BinariesNotFound(f"build finished but {set(NODE_NAMES) - set(found)} still missing")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        binaries = find_binaries()
        node = find_node_binaries() if "--node" in args else {}
    except (BinariesNotFound, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for field, path in vars(binaries).items():
        print(f"{field:<24} {path}")
    for name, path in node.items():
        print(f"{name:<24} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
