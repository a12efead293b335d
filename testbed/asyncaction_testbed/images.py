"""The project's container images, built on this machine without a registry or an engine.

* ``docker.io/asyncaction/asyncaction:<version>``: operator and hook (console scripts
  ``asyncaction-operator`` and ``asyncaction-hook``), the project's wheel and its
  dependencies on Debian's Python.
* ``docker.io/asyncaction/job-python:<version>``: Debian's Python with the stdlib job
  client ``asyncaction_job`` and its ``asyncaction-job`` script.
* ``docker.io/asyncaction/job-node:<version>``: Debian's Node.js with the Node job client
  ``@asyncaction/job`` (``clients/node``); built by ``asyncaction_testbed.node_image``.
* ``docker.io/asyncaction/pause:1.20``: the sandbox's process, a static ``pause``.

The base layer is a Debian root filesystem from ``mmdebstrap`` (``--variant=essential``
plus ``python3``), shared by both Python images; the project layer holds what pip
installed. Both images run as uid 65532 with HOME=/tmp, so a read-only root filesystem
works. Everything is cached under ``~/.cache/asyncaction/images`` keyed by content (the
recipe, the project's sources), and the archives are reproducible OCI layouts.

``python -m asyncaction_testbed.images build`` builds them and prints their sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from asyncaction_testbed import oci
from asyncaction_testbed.binaries import cache_dir

VERSION = metadata.version("asyncaction")
OPERATOR_IMAGE = f"docker.io/asyncaction/asyncaction:{VERSION}"
JOB_IMAGE = f"docker.io/asyncaction/job-python:{VERSION}"
PAUSE_IMAGE = "docker.io/asyncaction/pause:1.20"
NONROOT_UID = 65532
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "ca-certificates")
MIRRORS = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
PURGED_PACKAGES = (
    "usrmerge",
    "perl",
    "perl-modules-5.36",
    "libperl5.36",
    "libfile-find-rule-perl",
    "libnumber-compare-perl",
    "libtext-glob-perl",
)
SITE = "usr/local/lib/python3.11/dist-packages"
RECIPE_VERSION = "4"
RUNTIME_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    digest: str
    archive: Path
    compressed_bytes: int
    uncompressed_bytes: int


def images_cache() -> Path:
    return cache_dir().parent / "images"


def project_root() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists():
        raise RuntimeError(f"no pyproject.toml in {root}: build images from a source checkout")
    return root


def content_key(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(hashlib.sha256(part).digest())
    return sha.hexdigest()[:20]


def source_files(root: Path) -> list[Path]:
    """What the project layer is made of: the packaged sources and pyproject."""
    files = [root / "pyproject.toml", root / "README.md"]
    for top in ("operator", "jobhook"):
        files += sorted(
            p for p in (root / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    return files


def base_key(packages: tuple[str, ...] = BASE_PACKAGES) -> str:
    recipe = json.dumps(
        [RECIPE_VERSION, SUITE, packages, MIRRORS, DPKG_EXCLUDES, PURGED_PACKAGES, NONROOT_UID]
    )
    return content_key([recipe.encode()])


def mmdebstrap_argv(out: Path, packages: tuple[str, ...] = BASE_PACKAGES) -> list[str]:
    """A Debian root filesystem with Python, docs stripped and the nonroot user added."""
    user = (
        f'echo "nonroot:x:{NONROOT_UID}:{NONROOT_UID}:nonroot:/tmp:/usr/sbin/nologin"'
        ' >> "$1/etc/passwd"; '
        f'echo "nonroot:x:{NONROOT_UID}:" >> "$1/etc/group"'
    )
    return [
        "mmdebstrap",
        "--variant=essential",
        "--mode=root",
        f"--include={','.join(packages)}",
        *[f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES],
        f"--customize-hook={user}",
        # Perl comes only with usrmerge (a one-time migration, done by then): a third of
        # the base. Removed with its dependents; nothing in the images runs dpkg again.
        '--customize-hook=chroot "$1" dpkg --purge --force-depends ' + " ".join(PURGED_PACKAGES),
        '--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*',
        SUITE,
        str(out),
        *MIRRORS,
    ]


def base_layer(cache: Path, packages: tuple[str, ...] = BASE_PACKAGES) -> oci.Layer:
    """The Debian layer with ``packages`` (Python by default), built once per recipe."""
    key = base_key(packages)
    meta = cache / f"base-{key}.json"
    if meta.exists():
        layer = _load_layer(meta)
        if layer is not None:
            return layer
    if not shutil.which("mmdebstrap"):
        raise RuntimeError("mmdebstrap is missing: run `make node-setup` (installs it)")
    with tempfile.TemporaryDirectory(dir=cache, prefix="base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        say(f"building the Debian base layer ({', '.join(packages)}) with mmdebstrap")
        subprocess.run(
            mmdebstrap_argv(rootfs, packages),
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": "0"},  # reproducible file contents
        )
        layer_tar = Path(tmp) / "layer.tar"
        with layer_tar.open("wb") as out:
            oci.filter_tar(rootfs, out, drop_prefixes=("dev",))
        layer = oci.gzip_layer(layer_tar, cache / "blobs")
    _save_layer(meta, layer)
    return layer


def _save_layer(meta: Path, layer: oci.Layer) -> None:
    meta.write_text(
        json.dumps(
            {
                "path": str(layer.path),
                "digest": layer.digest,
                "diff_id": layer.diff_id,
                "size": layer.size,
            }
        )
    )


def _load_layer(meta: Path) -> oci.Layer | None:
    doc = json.loads(meta.read_text())
    path = Path(doc["path"])
    if not path.exists():
        return None
    return oci.Layer(path, doc["digest"], doc["diff_id"], int(doc["size"]))


def console_script(target: str) -> str:
    """A console script for Debian's python3 from an entry point ``module:function``."""
    module, function = target.split(":")
    return (
        f"#!/usr/bin/python3\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n"
    )


def entry_points(site: Path) -> dict[str, str]:
    scripts: dict[str, str] = {}
    for dist in site.glob("asyncaction-*.dist-info"):
        text = (dist / "entry_points.txt").read_text()
        section = ""
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif "=" in line and section == "[console_scripts]":
                name, target = (part.strip() for part in line.split("=", 1))
                scripts[name] = target
    return scripts


# Runtime dependencies of the distribution that neither the operator nor the hook
# imports (the Kubernetes clients of the test bed and of the CLI): left out of the image.
NOT_IN_IMAGE = frozenset({"kubernetes", "kubernetes_asyncio"})


def image_requirements(pyproject: Path) -> list[str]:
    """The project's runtime requirements, minus those only the test bed uses."""
    import re
    import tomllib

    wanted = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [r for r in wanted if re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] not in NOT_IN_IMAGE]


def _pip(argv: list[str]) -> None:
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip install into the image failed:\n{done.stdout}{done.stderr}")


def stage_project(
    stage: Path, *, packages: Iterable[str], scripts: Iterable[str], deps: bool
) -> None:
    """pip-install the project (with or without its dependencies) into ``stage``'s site dir.

    Only ``packages`` of the project are kept (plus third-party ones when ``deps``), and
    only ``scripts`` get a console script. Bytecode is compiled with unchecked hashes:
    reproducible, and needed because the root filesystem is read-only at run time.
    """
    site = stage / SITE
    site.mkdir(parents=True)
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--disable-pip-version-check",
        "--target",
        str(site),
    ]
    # From a clean copy: setuptools' build/ in the checkout may hold deleted modules.
    source = stage.parent / "source"
    root = project_root()
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(root / name, source / name)
    for top in ("operator", "jobhook", "client", "testbed"):
        shutil.copytree(root / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    _pip([*pip, "--no-deps", str(source)])
    if deps:
        _pip([*pip, *image_requirements(project_root() / "pyproject.toml")])
    ours = {
        "asyncaction",
        "asyncaction_hook",
        "asyncaction_job",
        "asyncaction_testbed",
        "asyncaction_client",
        "asyncaction_cli",
    }
    for name in ours - set(packages):
        shutil.rmtree(site / name, ignore_errors=True)
    shutil.rmtree(site / "bin", ignore_errors=True)
    available = entry_points(site)
    bin_dir = stage / "usr/local/bin"
    bin_dir.mkdir(parents=True)
    for name in scripts:
        path = bin_dir / name
        path.write_text(console_script(available[name]))
        path.chmod(0o755)
    for direct_url in site.glob("*.dist-info/direct_url.json"):
        direct_url.unlink()  # names the build machine's checkout
    for record in site.glob("*.dist-info/RECORD"):
        record.unlink()  # lists files we removed; nothing reads it at run time
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-d",
            "/" + SITE,
            str(site),
        ],
        check=True,
    )


@dataclass(frozen=True)
class Recipe:
    ref: str
    packages: tuple[str, ...]
    scripts: tuple[str, ...]
    deps: bool
    cmd: tuple[str, ...]


RECIPES = {
    "operator": Recipe(
        OPERATOR_IMAGE,
        # asyncaction_client: the task-record format (taskbook) the hook and the CLI share
        ("asyncaction", "asyncaction_hook", "asyncaction_job", "asyncaction_client"),
        ("asyncaction-operator", "asyncaction-hook"),
        True,
        ("asyncaction-operator",),
    ),
    "job": Recipe(JOB_IMAGE, ("asyncaction_job",), ("asyncaction-job",), False, ("python3",)),
}


def _build_python_image(name: str, cache: Path) -> BuiltImage:
    recipe = RECIPES[name]
    base = base_layer(cache)
    root = project_root()
    key = content_key(
        [
            json.dumps([RECIPE_VERSION, base.digest, vars(recipe)], default=list).encode(),
            *(
                str(p.relative_to(root)).encode() + b"\0" + p.read_bytes()
                for p in source_files(root)
            ),
        ]
    )
    meta = cache / f"{name}-{key}.json"
    if meta.exists():
        doc = json.loads(meta.read_text())
        if Path(doc["archive"]).exists():
            return BuiltImage(**{**doc, "archive": Path(doc["archive"])})
    say(f"building {recipe.ref}")
    with tempfile.TemporaryDirectory(dir=cache, prefix=f"{name}-") as tmp:
        stage = Path(tmp) / "stage"
        stage_project(stage, packages=recipe.packages, scripts=recipe.scripts, deps=recipe.deps)
        layer_tar = Path(tmp) / "layer.tar"
        with layer_tar.open("wb") as out:
            oci.tar_directory(stage, out)
        app = oci.gzip_layer(layer_tar, cache / "blobs")
        uncompressed = layer_tar.stat().st_size
    layers = [base, app]
    config = oci.build_config(
        layers,
        cmd=recipe.cmd,
        env=RUNTIME_ENV,
        user=f"{NONROOT_UID}:{NONROOT_UID}",
        workdir="/tmp",
        labels={
            "org.opencontainers.image.title": recipe.ref.rsplit("/", 1)[1].split(":")[0],
            "org.opencontainers.image.version": VERSION,
            "org.opencontainers.image.source": "asyncaction",
        },
    )
    archive = cache / f"{name}-{key}.oci.tar"
    digest = oci.write_archive(archive, recipe.ref, layers, config)
    built = BuiltImage(
        recipe.ref,
        digest,
        archive,
        base.size + app.size,
        _uncompressed(base) + uncompressed,
    )
    meta.write_text(json.dumps({**vars(built), "archive": str(archive)}))
    return built


def _uncompressed(layer: oci.Layer) -> int:
    import gzip

    total = 0
    with gzip.open(layer.path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            total += len(chunk)
    return total


def _build_pause_image(pause_binary: Path, cache: Path) -> BuiltImage:
    key = content_key([RECIPE_VERSION.encode(), pause_binary.read_bytes()])
    archive = cache / f"pause-{key}.oci.tar"
    with tempfile.TemporaryDirectory(dir=cache, prefix="pause-") as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        shutil.copy(pause_binary, stage / "pause")
        (stage / "pause").chmod(0o755)
        layer_tar = Path(tmp) / "layer.tar"
        with layer_tar.open("wb") as out:
            oci.tar_directory(stage, out)
        layer = oci.gzip_layer(layer_tar, cache / "blobs")
        size = layer_tar.stat().st_size
    config = oci.build_config([layer], cmd=(), entrypoint=("/pause",), user="65535:65535")
    digest = oci.image_digest([layer], config)
    if not archive.exists():
        oci.write_archive(archive, PAUSE_IMAGE, [layer], config)
    return BuiltImage(PAUSE_IMAGE, digest, archive, layer.size, size)


def prune(cache: Path, keep: Iterable[Path]) -> list[Path]:
    """Delete cached files that ``keep`` (metadata files and archives) does not use.

    A kept metadata file keeps what it names (its archive, its layer blob); layer blobs
    of finished images live on in their archives. Returns what was deleted.
    """
    kept = {path.resolve() for path in keep}
    for meta in [p for p in kept if p.suffix == ".json" and p.exists()]:
        doc = json.loads(meta.read_text())
        kept |= {Path(doc[k]).resolve() for k in ("archive", "path") if doc.get(k)}
    doomed = [
        path
        for pattern in ("*.json", "*.oci.tar", "blobs/*")
        for path in cache.glob(pattern)
        if path.resolve() not in kept
    ]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def imported_digest(ctr: list[str], ref: str) -> str | None:
    out = subprocess.run([*ctr, "images", "ls"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == ref:
            return fields[2]
    return None


def import_image(ctr: list[str], image: BuiltImage) -> bool:
    """Import ``image`` into containerd (namespace k8s.io) unless it is there already."""
    if imported_digest(ctr, image.ref) == image.digest:
        return False
    subprocess.run([*ctr, "images", "import", str(image.archive)], check=True, capture_output=True)
    found = imported_digest(ctr, image.ref)
    if found != image.digest:
        raise RuntimeError(
            f"imported {image.archive} but {image.ref} is {found}, not {image.digest}"
        )
    return True


def ctr_command(socket: Path) -> list[str]:
    return ["ctr", "--address", str(socket), "--namespace", "k8s.io"]


def say(message: str) -> None:
    print(f"[asyncaction] {message}", file=sys.stderr, flush=True)


def describe(images: Mapping[str, BuiltImage]) -> list[dict[str, Any]]:
    return [
        {
            "image": image.ref,
            "digest": image.digest,
            "compressed_mb": round(image.compressed_bytes / 1e6, 1),
            "uncompressed_mb": round(image.uncompressed_bytes / 1e6, 1),
            "archive": str(image.archive),  # for `skopeo copy oci-archive:...` (docs/jobs.md)
        }
        for image in images.values()
    ]


@contextlib.contextmanager
def cache_lock(cache: Path) -> Iterator[Path]:
    """One build at a time per cache (make up and test sessions may build together)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield cache
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_python_image(name: str, cache: Path | None = None) -> BuiltImage:
    """The image of ``RECIPES[name]``, from the cache when its inputs did not change."""
    with cache_lock(cache or images_cache()) as locked:
        return _build_python_image(name, locked)


def build_pause_image(pause_binary: Path, cache: Path | None = None) -> BuiltImage:
    with cache_lock(cache or images_cache()) as locked:
        return _build_pause_image(pause_binary, locked)


def build_all(cache: Path | None = None) -> dict[str, BuiltImage]:
    """The Python images and the Node job image, then drop what older builds left behind."""
    cache = cache or images_cache()
    with cache_lock(cache):
        return _build_all(cache)


def _build_all(cache: Path) -> dict[str, BuiltImage]:
    from asyncaction_testbed import node_image

    built = {name: _build_python_image(name, cache) for name in RECIPES}
    built["job-node"] = node_image.build_node_image(cache)
    metas = [
        cache / f"base-{base_key()}.json",
        cache / f"base-{base_key(node_image.PACKAGES)}.json",
    ]
    metas += [
        image.archive.with_name(image.archive.name.replace(".oci.tar", ".json"))
        for image in built.values()
    ]
    pause = sorted(cache.glob("pause-*.oci.tar"), key=lambda p: p.stat().st_mtime)[-1:]
    prune(cache, [*metas, *pause])
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncaction_testbed.images")
    parser.add_argument("command", choices=["build"])
    parser.parse_args(argv)
    built = build_all()
    for row in describe(built):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
