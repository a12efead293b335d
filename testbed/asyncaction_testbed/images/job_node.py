"""``docker.io/asyncaction/job-node:<version>``: Debian's Node.js and the Node job client.

The base layer is a Debian root filesystem with ``nodejs`` (no Python), made as the Python
images' is (``images.debian_base.base_layer``); the project layer holds the npm package of
``clients/node`` as ``/node_modules/@asyncaction/job``. A module anywhere in the image
resolves ``import "@asyncaction/job"`` by walking up to ``/node_modules`` (ES modules
ignore ``NODE_PATH``; ``NODE_PATH`` is set too, for ``require``). Runs as uid 65532 with
HOME=/tmp, so a read-only root filesystem works. Cached by content like the others.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from asyncaction_testbed import oci
from asyncaction_testbed.images.cache import (
    RECIPE_VERSION,
    BuiltImage,
    cache_lock,
    cached_image,
    content_key,
    images_cache,
    say,
    uncompressed_size,
)
from asyncaction_testbed.images.debian_base import NONROOT_UID, base_layer
from asyncaction_testbed.images.project_layer import project_root
from asyncaction_testbed.images.recipes import VERSION

JOB_NODE_IMAGE = f"docker.io/asyncaction/job-node:{VERSION}"
PACKAGES = ("nodejs", "ca-certificates")
MODULE_DIR = "node_modules/@asyncaction/job"
NODE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "NODE_PATH": "/node_modules",
}


def package_files(package: Path) -> list[Path]:
    """What ``npm pack`` ships: package.json and its ``files`` list."""
    manifest = json.loads((package / "package.json").read_text())
    return [package / "package.json", *(package / name for name in manifest["files"])]


def build_node_image(cache: Path) -> BuiltImage:
    """The image, from the cache when Debian's recipe and the package did not change.
    The caller holds ``images.cache.cache_lock``."""
    package = project_root() / "clients" / "node"
    files = package_files(package)
    base = base_layer(cache, PACKAGES)
    key = content_key(
        [
            json.dumps([RECIPE_VERSION, base.digest, JOB_NODE_IMAGE, NODE_ENV]).encode(),
            *(p.name.encode() + b"\0" + p.read_bytes() for p in files),
        ]
    )
    meta = cache / f"job-node-{key}.json"
    cached = cached_image(meta)
    if cached is not None:
        return cached
    say(f"building {JOB_NODE_IMAGE}")
    with tempfile.TemporaryDirectory(dir=cache, prefix="job-node-") as tmp:
        stage = Path(tmp) / "stage"
        target = stage / MODULE_DIR
        target.mkdir(parents=True)
        for path in files:
            shutil.copy(path, target / path.name)
        layer_tar = Path(tmp) / "layer.tar"
        with layer_tar.open("wb") as out:
            oci.tar_directory(stage, out)
        app = oci.gzip_layer(layer_tar, cache / "blobs")
        uncompressed = layer_tar.stat().st_size
    layers = [base, app]
    config = oci.build_config(
        layers,
        cmd=("node",),
        env=NODE_ENV,
        user=f"{NONROOT_UID}:{NONROOT_UID}",
        workdir="/tmp",
        labels={
            "org.opencontainers.image.title": "job-node",
            "org.opencontainers.image.version": VERSION,
            "org.opencontainers.image.source": "asyncaction",
        },
    )
    archive = cache / f"job-node-{key}.oci.tar"
    digest = oci.write_archive(archive, JOB_NODE_IMAGE, layers, config)
    built = BuiltImage(
        JOB_NODE_IMAGE,
        digest,
        archive,
        base.size + app.size,
        uncompressed_size(base) + uncompressed,
    )
    meta.write_text(json.dumps({**vars(built), "archive": str(archive)}))
    return built


def build_job_node_image(cache: Path | None = None) -> BuiltImage:
    """``build_node_image`` under the images cache's lock (for callers outside build_all)."""
    with cache_lock(cache or images_cache()) as locked:
        return build_node_image(locked)
