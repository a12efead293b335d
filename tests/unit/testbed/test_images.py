"""Image recipes: console scripts for Debian's Python, content keys, what each image holds."""

from __future__ import annotations

from asyncaction_testbed import images


def test_console_script_runs_the_entry_point_with_debian_python() -> None:
    script = images.console_script("asyncaction.main:main")
    assert script.startswith("#!/usr/bin/python3\n")
    code = compile(script, "script", "exec")
    assert "main" in code.co_names


def test_tags_follow_the_project_version() -> None:
    assert f"docker.io/asyncaction/asyncaction:{images.VERSION}" == images.OPERATOR_IMAGE
    assert f"docker.io/asyncaction/job-python:{images.VERSION}" == images.JOB_IMAGE


def test_recipes_match_the_interface_with_the_chart() -> None:
    operator, job = images.RECIPES["operator"], images.RECIPES["job"]
    assert set(operator.scripts) == {"asyncaction-operator", "asyncaction-hook"}
    assert operator.deps
    assert not job.deps
    assert job.packages == ("asyncaction_job",)
    assert job.scripts == ("asyncaction-job",)
    assert images.RUNTIME_ENV["HOME"] == "/tmp"
    assert images.NONROOT_UID == 65532


def test_content_key_depends_on_every_part_and_their_order() -> None:
    assert images.content_key([b"a", b"b"]) == images.content_key([b"a", b"b"])
    assert images.content_key([b"a", b"b"]) != images.content_key([b"b", b"a"])
    assert images.content_key([b"ab"]) != images.content_key([b"a", b"b"])


def test_base_root_filesystem_adds_the_nonroot_user_and_strips_docs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    argv = images.mmdebstrap_argv(tmp_path / "out.tar")
    assert "--variant=essential" in argv
    assert any("nonroot:x:65532:65532" in a for a in argv)
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv
    assert all(m.startswith("deb http://deb.debian.org/") for m in images.MIRRORS)
