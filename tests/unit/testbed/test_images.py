"""Image recipes: console scripts for Debian's Python, content keys, what each image holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from asyncaction_testbed.images import cache, debian_base, job_node, project_layer, recipes


def test_console_script_runs_the_entry_point_with_debian_python() -> None:
    script = project_layer.console_script("asyncaction.main:main")
    assert script.startswith("#!/usr/bin/python3\n")
    code = compile(script, "script", "exec")
    assert "main" in code.co_names


def test_tags_follow_the_project_version() -> None:
    assert f"docker.io/asyncaction/asyncaction:{recipes.VERSION}" == recipes.OPERATOR_IMAGE
    assert f"docker.io/asyncaction/job-python:{recipes.VERSION}" == recipes.JOB_IMAGE


def test_recipes_match_the_interface_with_the_chart() -> None:
    operator, job = recipes.RECIPES["operator"], recipes.RECIPES["job"]
    assert set(operator.scripts) == {"asyncaction-operator", "asyncaction-hook"}
    assert operator.deps
    assert not job.deps
    assert job.packages == ("asyncaction_job",)
    assert job.scripts == ("asyncaction-job",)
    assert recipes.RUNTIME_ENV["HOME"] == "/tmp"
    assert debian_base.NONROOT_UID == 65532


def test_content_key_depends_on_every_part_and_their_order() -> None:
    assert cache.content_key([b"a", b"b"]) == cache.content_key([b"a", b"b"])
    assert cache.content_key([b"a", b"b"]) != cache.content_key([b"b", b"a"])
    assert cache.content_key([b"ab"]) != cache.content_key([b"a", b"b"])


def test_base_root_filesystem_adds_the_nonroot_user_and_strips_docs(tmp_path: Path) -> None:
    argv = debian_base.mmdebstrap_argv(tmp_path / "out.tar")
    assert "--variant=essential" in argv
    assert any("nonroot:x:65532:65532" in a for a in argv)
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv
    assert all(m.startswith("deb http://deb.debian.org/") for m in debian_base.MIRRORS)


def test_image_requirements_leave_out_the_test_beds_kubernetes_client(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["kopf==1.45.*", "kubernetes>=29", "pydantic>=2.6,<3", '
        '"boto3[crt]>=1.34"]\n'
    )
    assert project_layer.image_requirements(pyproject) == [
        "kopf==1.45.*",
        "pydantic>=2.6,<3",
        "boto3[crt]>=1.34",
    ]


def test_prune_keeps_what_kept_metadata_names(tmp_path: Path) -> None:
    (tmp_path / "blobs").mkdir()
    base_blob, old_blob = tmp_path / "blobs" / "aaa", tmp_path / "blobs" / "bbb"
    archive, old_archive = tmp_path / "job-new.oci.tar", tmp_path / "job-old.oci.tar"
    for path in (base_blob, old_blob, archive, old_archive):
        path.write_text("x")
    base_meta = tmp_path / "base-new.json"
    base_meta.write_text(f'{{"path": "{base_blob}"}}')
    job_meta, old_meta = tmp_path / "job-new.json", tmp_path / "job-old.json"
    job_meta.write_text(f'{{"archive": "{archive}"}}')
    old_meta.write_text(f'{{"archive": "{old_archive}"}}')
    # just written, the old image counts as used: another work tree may build it in turn;
    # a blob no metadata names lives on in an archive
    assert cache.prune(tmp_path, [base_meta, job_meta]) == [old_blob]
    later = time.time() + cache.KEEP_UNUSED_SECONDS + 60
    deleted = cache.prune(tmp_path, [base_meta, job_meta], now=later)
    assert sorted(deleted) == sorted([old_archive, old_meta])
    assert base_blob.exists()
    assert archive.exists()
    assert job_meta.exists()


def test_prune_keeps_what_another_tree_used_lately(tmp_path: Path) -> None:
    """Two work trees building in turn: each build keeps what the other used within
    ``KEEP_UNUSED_SECONDS`` (a cache hit marks its metadata), and drops it after."""
    archives = {tree: tmp_path / f"api-{tree}.oci.tar" for tree in ("a", "b")}
    metas = {tree: tmp_path / f"api-{tree}.json" for tree in ("a", "b")}
    for tree in ("a", "b"):
        archives[tree].write_text("x")
        metas[tree].write_text(f'{{"archive": "{archives[tree]}"}}')
    orphan = tmp_path / "pause-old.oci.tar"
    orphan.write_text("x")
    start = time.time()
    day = 24 * 3600.0
    for path in (*archives.values(), *metas.values(), orphan):
        os.utime(path, (start - 2 * day, start - 2 * day))
    cache.mark_used(metas["b"])  # tree b's build found its image in the cache today
    assert cache.prune(tmp_path, [metas["a"]], now=start) == []  # b's is kept
    # two more days: b's build of today is within the window, the orphan is not
    assert cache.prune(tmp_path, [metas["a"]], now=start + 2 * day) == [orphan]
    assert archives["b"].exists()
    assert metas["b"].exists()
    # b not built for the whole window: tree a's build drops it
    deleted = cache.prune(tmp_path, [metas["a"]], now=start + cache.KEEP_UNUSED_SECONDS + 60)
    assert sorted(deleted) == sorted([archives["b"], metas["b"]])
    assert archives["a"].exists()
    assert metas["a"].exists()


def test_a_cache_hit_returns_the_recorded_image_and_marks_it_used(tmp_path: Path) -> None:
    """What the Python and Node image builds take from the cache: the image its metadata
    records, only while its archive is there, and marked used so ``prune`` keeps it."""
    archive = tmp_path / "api-k.oci.tar"
    meta = tmp_path / "api-k.json"
    assert cache.cached_image(meta) is None  # never built
    meta.write_text(
        f'{{"ref": "docker.io/asyncaction/api:0.1.0", "digest": "sha256:ab", '
        f'"archive": "{archive}", "compressed_bytes": 3, "uncompressed_bytes": 7}}'
    )
    long_ago = time.time() - 2 * 24 * 3600.0
    os.utime(meta, (long_ago, long_ago))
    assert cache.cached_image(meta) is None  # its archive went: build again
    assert meta.stat().st_mtime == long_ago  # a miss is not a use
    archive.write_text("x")
    assert cache.cached_image(meta) == cache.BuiltImage(
        "docker.io/asyncaction/api:0.1.0", "sha256:ab", archive, 3, 7
    )
    assert meta.stat().st_mtime > long_ago + 3600  # marked used


def test_node_job_image_holds_what_npm_pack_ships_on_debians_nodejs(tmp_path: Path) -> None:
    root = project_layer.project_root() / "clients" / "node"
    assert [p.relative_to(root).as_posix() for p in job_node.package_files(root)] == [
        "package.json",
        "index.js",
        "index.d.ts",
        "signing.js",
        "signing.d.ts",
        "README.md",
        "LICENSE",
    ]
    argv = debian_base.mmdebstrap_argv(tmp_path / "out.tar", job_node.PACKAGES)
    assert "--include=nodejs,ca-certificates" in argv
    assert debian_base.base_key(job_node.PACKAGES) != debian_base.base_key()
    assert f"docker.io/asyncaction/job-node:{recipes.VERSION}" == job_node.JOB_NODE_IMAGE
    assert job_node.NODE_ENV["HOME"] == "/tmp"


def test_make_images_command_is_the_packages_main() -> None:
    """`make images` runs `python -m asyncaction_testbed.images build`: the package's main."""
    done = subprocess.run(
        [sys.executable, "-m", "asyncaction_testbed.images", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m asyncaction_testbed.images")
    assert "{build}" in done.stdout


def test_prune_keeps_only_the_latest_builds_of_each_image(tmp_path: Path) -> None:
    """One tree rebuilding the same image again and again (each source change is a new
    key, about 100 MB): only the ``KEEP_PER_IMAGE`` latest stay, whatever their age."""
    start = time.time()
    builds = []
    for n in range(cache.KEEP_PER_IMAGE + 2):
        archive, meta = tmp_path / f"operator-k{n}.oci.tar", tmp_path / f"operator-k{n}.json"
        archive.write_text("x")
        meta.write_text(f'{{"archive": "{archive}"}}')
        for path in (archive, meta):
            os.utime(path, (start - 60 * (10 - n), start - 60 * (10 - n)))
        builds.append((meta, archive))
    unused = tmp_path / "pause-new.oci.tar"  # no metadata names it, and it is recent
    unused.write_text("x")
    deleted = cache.prune(tmp_path, [builds[-1][0]], now=start)
    assert sorted(deleted) == sorted(path for build in builds[:2] for path in build)
    for meta, archive in builds[2:]:
        assert meta.exists()
        assert archive.exists()
    assert unused.exists()
