"""The OCI writer: reproducible layers and an archive whose digests check out."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from asyncaction_testbed import oci


def make_tree(root: Path) -> None:
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "usr/local/bin/tool").write_text("#!/bin/sh\necho hi\n")
    (root / "usr/local/bin/tool").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc/motd").write_text("hello\n")


def layer_of(tree: Path, work: Path) -> oci.Layer:
    tar_path = work / "layer.tar"
    with tar_path.open("wb") as out:
        oci.tar_directory(tree, out)
    return oci.gzip_layer(tar_path, work / "blobs")


def test_layers_are_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for tree in (first, second):
        make_tree(tree / "tree")
    (second / "tree/etc/motd").touch()  # a different mtime must not matter
    one, two = layer_of(first / "tree", first), layer_of(second / "tree", second)
    assert (one.digest, one.diff_id, one.size) == (two.digest, two.diff_id, two.size)
    assert one.digest == "sha256:" + hashlib.sha256(one.path.read_bytes()).hexdigest()
    assert (
        one.diff_id
        == "sha256:" + hashlib.sha256(gzip.decompress(one.path.read_bytes())).hexdigest()
    )


def test_tar_entries_are_owned_by_root_with_zero_times(tmp_path: Path) -> None:
    make_tree(tmp_path / "tree")
    buffer = io.BytesIO()
    oci.tar_directory(tmp_path / "tree", buffer, owner={"etc": 65532})
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == sorted(members, key=list(members).index)  # stable order
    assert members["etc"].uid == 65532
    assert all(m.mtime == 0 for m in members.values())
    assert members["usr/local/bin/tool"].mode & 0o111


def test_filter_tar_drops_devices_and_prefixes(tmp_path: Path) -> None:
    source = tmp_path / "rootfs.tar"
    with tarfile.open(source, "w") as tar:
        for name, kind in (
            ("./", tarfile.DIRTYPE),
            ("./dev", tarfile.DIRTYPE),
            ("./dev/null", tarfile.CHRTYPE),
            ("./etc", tarfile.DIRTYPE),
        ):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mtime = 12345
            tar.addfile(info)
    out = io.BytesIO()
    oci.filter_tar(source, out, drop_prefixes=("dev",))
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        assert [(m.name, m.mtime) for m in tar.getmembers()] == [("etc", 0)]


def test_archive_index_names_the_image_and_digests_match(tmp_path: Path) -> None:
    make_tree(tmp_path / "tree")
    layer = layer_of(tmp_path / "tree", tmp_path)
    config = oci.build_config([layer], cmd=["python3"], user="65532:65532", env={"HOME": "/tmp"})
    ref = "docker.io/asyncaction/job-python:0.1.0"
    archive = tmp_path / "image.tar"
    digest = oci.write_archive(archive, ref, [layer], config)
    assert digest == oci.image_digest([layer], config)
    with tarfile.open(archive) as tar:
        blobs = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    for name, data in blobs.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(blobs["index.json"])
    entry = index["manifests"][0]
    assert entry["digest"] == digest
    assert entry["annotations"]["io.containerd.image.name"] == ref
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "0.1.0"
    manifest = json.loads(blobs[f"blobs/sha256/{digest[7:]}"])
    config_doc = json.loads(blobs[f"blobs/sha256/{manifest['config']['digest'][7:]}"])
    assert config_doc["rootfs"]["diff_ids"] == [layer.diff_id]
    assert config_doc["config"]["User"] == "65532:65532"
    assert manifest["layers"][0]["digest"] == layer.digest
