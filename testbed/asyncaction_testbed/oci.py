"""A minimal OCI image writer: layers from directories or tars, no registry, no engine.

Everything is deterministic (sorted entries, zero timestamps and owners, gzip without a
name or time), so the same inputs give the same digests and the image cache can be
keyed by content. ``write_archive`` produces an OCI image layout as a tar that
``ctr images import`` accepts; the ``io.containerd.image.name`` annotation names it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class Layer:
    """A gzipped layer blob on disk, with the digests the manifest and config need."""

    path: Path
    digest: str  # sha256 of the gzip blob
    diff_id: str  # sha256 of the uncompressed tar
    size: int


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def tar_directory(root: Path, out: IO[bytes], *, owner: Mapping[str, int] | None = None) -> None:
    """Write ``root``'s tree as a reproducible tar (paths relative to ``root``).

    ``owner`` maps relative paths to a uid/gid given to that entry (for directories an
    unprivileged user must write to, such as ``tmp``).
    """
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries: list[Path] = []
        for directory, dirs, files in os.walk(root):
            dirs.sort()
            base = Path(directory)
            entries += [base / d for d in dirs] + [base / f for f in sorted(files)]
        for path in entries:
            rel = path.relative_to(root).as_posix()
            info = _normalize(tar.gettarinfo(str(path), arcname=rel))
            if owner and rel in owner:
                info.uid = info.gid = owner[rel]
            if info.isfile():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)


def filter_tar(source: Path, out: IO[bytes], *, drop_prefixes: Sequence[str] = ()) -> None:
    """Copy a root filesystem tar, normalized and without entries under ``drop_prefixes``."""
    with (
        tarfile.open(source, mode="r:*") as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for info in src:
            name = info.name.removeprefix("./")
            if name in ("", ".") or any(
                name == p or name.startswith(p + "/") for p in drop_prefixes
            ):
                continue
            if info.ischr() or info.isblk() or info.isfifo():
                continue  # /dev is the runtime's
            info.name = name
            info.mtime = 0
            info.pax_headers = {}
            handle = src.extractfile(info) if info.isfile() else None
            dst.addfile(info, handle)


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``inner``."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha.update(view)
        self.size += len(view)
        self.inner.write(view)
        return len(view)


def gzip_layer(tar_path: Path, blob_dir: Path) -> Layer:
    """Compress a layer tar into ``blob_dir/<digest>``; reproducible (no name, mtime 0)."""
    blob_dir.mkdir(parents=True, exist_ok=True)
    tmp = blob_dir / f".{tar_path.name}.{os.getpid()}.tmp"
    diff = hashlib.sha256()
    with tmp.open("wb") as raw:
        hashing = _Hashing(raw)
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0, compresslevel=6) as gz,
            tar_path.open("rb") as src,
        ):
            for chunk in iter(lambda: src.read(1 << 20), b""):
                diff.update(chunk)
                gz.write(chunk)
    digest = "sha256:" + hashing.sha.hexdigest()
    final = blob_dir / digest.split(":")[1]
    tmp.replace(final)
    return Layer(final, digest, "sha256:" + diff.hexdigest(), hashing.size)


def build_config(
    layers: Sequence[Layer],
    *,
    cmd: Sequence[str],
    entrypoint: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    user: str = "",
    workdir: str = "",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The OCI image config: how the container runs, and the layers' uncompressed digests."""
    config: dict[str, Any] = {"Cmd": list(cmd)}
    if entrypoint:
        config["Entrypoint"] = list(entrypoint)
    if env:
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
    if user:
        config["User"] = user
    if workdir:
        config["WorkingDir"] = workdir
    if labels:
        config["Labels"] = dict(labels)
    return {
        "created": EPOCH,
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }


def _blob(data: bytes) -> tuple[str, bytes]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def build_manifest(config_digest: str, config_size: int, layers: Sequence[Layer]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [
            {"mediaType": MEDIA_LAYER, "digest": layer.digest, "size": layer.size}
            for layer in layers
        ],
    }


def build_index(manifest_digest: str, manifest_size: int, ref: str) -> dict[str, Any]:
    tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
    return {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": tag,
                },
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }


def image_digest(layers: Sequence[Layer], config: Mapping[str, Any]) -> str:
    """The manifest digest the image will have: its identity, computed before writing."""
    config_digest, config_bytes = _blob(_canonical(config))
    digest, _ = _blob(_canonical(build_manifest(config_digest, len(config_bytes), layers)))
    return digest


def write_archive(out: Path, ref: str, layers: Sequence[Layer], config: Mapping[str, Any]) -> str:
    """Write an OCI layout tar for image ``ref``; returns the manifest digest."""
    config_digest, config_bytes = _blob(_canonical(config))
    manifest_digest, manifest_bytes = _blob(
        _canonical(build_manifest(config_digest, len(config_bytes), layers))
    )
    index = _canonical(build_index(manifest_digest, len(manifest_bytes), ref))
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_bytes(name: str, data: bytes) -> None:
            info = _normalize(tarfile.TarInfo(name))
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_bytes("index.json", index)
        add_bytes(f"blobs/sha256/{config_digest.split(':')[1]}", config_bytes)
        add_bytes(f"blobs/sha256/{manifest_digest.split(':')[1]}", manifest_bytes)
        for layer in _unique(layers):
            info = _normalize(tar.gettarinfo(str(layer.path), f"blobs/sha256/{layer.digest[7:]}"))
            with layer.path.open("rb") as handle:
                tar.addfile(info, handle)
    tmp.replace(out)
    return manifest_digest


def _unique(layers: Iterable[Layer]) -> list[Layer]:
    seen: dict[str, Layer] = {}
    for layer in layers:
        seen.setdefault(layer.digest, layer)
    return list(seen.values())
