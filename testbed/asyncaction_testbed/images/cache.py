"""The images cache (``~/.cache/asyncaction/images``): what a build leaves and how it is found.

Every base layer and image is stored under a key made from everything that goes into it
(``RECIPE_VERSION``, the recipe, the sources), so a build whose inputs did not change
returns what is cached and costs nothing. ``make up`` and test sessions may build at the
same time, so ``cache_lock`` lets one build run per cache; ``prune`` then drops what no
build used for a few days. Kept apart from the recipes so every image (the Python images,
the Node job image, the pause image) shares one keying and one lock.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import gzip
import hashlib
import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from asyncaction_testbed import oci
from asyncaction_testbed.binaries import cache_dir

# Part of every key: bump it when a recipe changes in a way its inputs do not show.
RECIPE_VERSION = "4"


@dataclass(frozen=True)
class BuiltImage:
    """An image archive in the cache, as ``ctr images import`` takes it."""

    ref: str
    digest: str
    archive: Path
    compressed_bytes: int
    uncompressed_bytes: int


def images_cache() -> Path:
    return cache_dir().parent / "images"


def content_key(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(hashlib.sha256(part).digest())
    return sha.hexdigest()[:20]


def say(message: str) -> None:
    """Progress of a build, on stderr (stdout is the ``build`` command's JSON rows)."""
    print(f"[asyncaction] {message}", file=sys.stderr, flush=True)


def save_layer(meta: Path, layer: oci.Layer) -> None:
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


def load_layer(meta: Path) -> oci.Layer | None:
    doc = json.loads(meta.read_text())
    path = Path(doc["path"])
    if not path.exists():
        return None
    return oci.Layer(path, doc["digest"], doc["diff_id"], int(doc["size"]))


def cached_image(meta: Path) -> BuiltImage | None:
    """The image ``meta`` records, when it and its archive are still in the cache (a
    hit: marked used, so ``prune`` keeps it); None when it must be built."""
    if not meta.exists():
        return None
    doc = json.loads(meta.read_text())
    if not Path(doc["archive"]).exists():
        return None
    mark_used(meta)
    return BuiltImage(**{**doc, "archive": Path(doc["archive"])})


def uncompressed_size(layer: oci.Layer) -> int:
    total = 0
    with gzip.open(layer.path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            total += len(chunk)
    return total


# What a build no longer uses stays this long after it was last used, for the few most
# recent builds of each image: another work tree (or a branch checked out again) that
# builds in turn finds its images still there, instead of each build deleting the
# other's and both rebuilding (minutes each time), while one tree's stream of rebuilds
# (about 100 MB each) does not pile up.
KEEP_UNUSED_SECONDS = 3 * 24 * 3600.0
KEEP_PER_IMAGE = 3


def mark_used(path: Path) -> None:
    """A build took ``path`` from the cache: ``prune`` keeps what was used lately."""
    with contextlib.suppress(OSError):
        path.touch()


def prune(
    cache: Path,
    keep: Iterable[Path],
    *,
    now: float | None = None,
    unused_for: float = KEEP_UNUSED_SECONDS,
    per_image: int = KEEP_PER_IMAGE,
) -> list[Path]:
    """Delete cached files that neither ``keep`` (metadata files and archives) nor one
    of the ``per_image`` latest builds of an image used within ``unused_for`` seconds
    uses.

    A metadata file (``<image>-<key>.json``) counts as used when it was written or read
    (``mark_used``); a kept one keeps what it names (its archive, its layer blob), and
    what it names goes with it. Other layer blobs live on in their archives and go; an
    archive no metadata names (the pause image's) goes once unused for ``unused_for``.
    Returns what was deleted.
    """
    now = time.time() if now is None else now

    def used_at(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except FileNotFoundError:
            return -math.inf

    def recent(path: Path) -> bool:
        return now - used_at(path) < unused_for

    kept = {path.resolve() for path in keep}
    metas = sorted(cache.glob("*.json"), key=used_at, reverse=True)  # the latest first
    builds: collections.Counter[str] = collections.Counter()  # kept so far, by image
    for meta in metas:
        image = meta.stem.rsplit("-", 1)[0]
        if recent(meta) and builds[image] < per_image:
            builds[image] += 1
            kept.add(meta.resolve())
    named: set[Path] = set()  # what some metadata file names
    for meta in metas:
        doc = json.loads(meta.read_text())
        paths = {Path(doc[k]).resolve() for k in ("archive", "path") if doc.get(k)}
        named |= paths
        if meta.resolve() in kept:
            kept |= paths
    doomed = [
        path
        for pattern in ("*.json", "*.oci.tar", "blobs/*")
        for path in cache.glob(pattern)
        if path.resolve() not in kept
        and (pattern != "*.oci.tar" or path.resolve() in named or not recent(path))
    ]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


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
