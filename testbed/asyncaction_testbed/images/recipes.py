"""What each of the project's images holds, and building them (all or one) from the cache.

* ``docker.io/asyncaction/asyncaction:<version>``: operator and hook (console scripts
  ``asyncaction-operator`` and ``asyncaction-hook``), the project's wheel and its
  dependencies on Debian's Python.
* ``docker.io/asyncaction/job-python:<version>``: Debian's Python with the stdlib job
  client ``asyncaction_job`` and its ``asyncaction-job`` script.
* ``docker.io/asyncaction/job-node:<version>``: built by ``asyncaction_testbed.images.job_node``.
* ``docker.io/asyncaction/pause:1.20``: the sandbox's process, a static ``pause``.

Each Python image is the shared Debian base (``debian_base``) plus a project layer
(``project_layer``), with the runtime settings below (uid 65532, HOME=/tmp, so a
read-only root filesystem works). This is the module to read to know what an image is;
how layers are made and cached lives in the modules it imports.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from asyncaction_testbed import oci
from asyncaction_testbed.images.cache import (
    RECIPE_VERSION,
    BuiltImage,
    cache_lock,
    cached_image,
    content_key,
    images_cache,
    mark_used,
    prune,
    say,
    uncompressed_size,
)
from asyncaction_testbed.images.debian_base import NONROOT_UID, base_key, base_layer
from asyncaction_testbed.images.project_layer import project_root, source_files, stage_project

VERSION = metadata.version("asyncaction")
OPERATOR_IMAGE = f"docker.io/asyncaction/asyncaction:{VERSION}"
JOB_IMAGE = f"docker.io/asyncaction/job-python:{VERSION}"
PAUSE_IMAGE = "docker.io/asyncaction/pause:1.20"
RUNTIME_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


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
    cached = cached_image(meta)
    if cached is not None:
        return cached
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
        uncompressed_size(base) + uncompressed,
    )
    meta.write_text(json.dumps({**vars(built), "archive": str(archive)}))
    return built


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
    else:
        mark_used(archive)
    return BuiltImage(PAUSE_IMAGE, digest, archive, layer.size, size)


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


def build_python_image(name: str, cache: Path | None = None) -> BuiltImage:
    """The image of ``RECIPES[name]``, from the cache when its inputs did not change."""
    with cache_lock(cache or images_cache()) as locked:
        return _build_python_image(name, locked)


def build_pause_image(pause_binary: Path, cache: Path | None = None) -> BuiltImage:
    with cache_lock(cache or images_cache()) as locked:
        return _build_pause_image(pause_binary, locked)


def build_all(cache: Path | None = None) -> dict[str, BuiltImage]:
    """The Python images and the Node job image, then prune the cache (``cache.prune``)."""
    cache = cache or images_cache()
    with cache_lock(cache):
        return _build_all(cache)


def _build_all(cache: Path) -> dict[str, BuiltImage]:
    from asyncaction_testbed.images import job_node

    built = {name: _build_python_image(name, cache) for name in RECIPES}
    built["job-node"] = job_node.build_node_image(cache)
    metas = [
        cache / f"base-{base_key()}.json",
        cache / f"base-{base_key(job_node.PACKAGES)}.json",
    ]
    metas += [
        image.archive.with_name(image.archive.name.replace(".oci.tar", ".json"))
        for image in built.values()
    ]
    pause = sorted(cache.glob("pause-*.oci.tar"), key=lambda p: p.stat().st_mtime)[-1:]
    prune(cache, [*metas, *pause])
    return built
