"""``asyncaction-job`` and its entrypoint run by hand, outside a job or with bad input:
one line on stderr naming the setting, file or flag, and a usage exit code (2), never a
traceback and never 'hook unreachable' (4) for a mistake in the job's own setup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from asyncaction_job.cli import main
from asyncaction_job.entrypoint import run

JOB_ENV = ("JOB_ID", "JOB_SECRET_KEY", "JOB_HOOK")


@pytest.fixture
def in_a_job(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The job's environment, with a hook URL on a loopback port nobody listens on."""
    monkeypatch.setenv("JOB_ID", "j")
    monkeypatch.setenv("JOB_SECRET_KEY", "k")
    monkeypatch.setenv("JOB_HOOK", "http://127.0.0.1:9")
    return monkeypatch


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert "Traceback" not in captured.err
    return lines[-1]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["report", "--details", "@{tmp}/missing.json"],
            "argument --details: cannot read {tmp}/missing.json: No such file or directory",
        ),
        (
            ["succeed", "--result", "@{tmp}"],
            "argument --result: cannot read {tmp}: Is a directory",
        ),
    ],
)
def test_a_json_flag_naming_an_unreadable_file_is_a_usage_error(
    in_a_job: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    says: str,
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([a.format(tmp=tmp_path) for a in argv])
    assert exited.value.code == 2
    assert error_line(capsys).endswith(": error: " + says.format(tmp=tmp_path))


@pytest.mark.parametrize(
    ("name", "says"),
    [("missing", "No such file or directory"), ("", "Is a directory")],
)
def test_uploading_a_file_that_cannot_be_read_names_it(
    in_a_job: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    says: str,
) -> None:
    path = tmp_path / name
    assert main(["upload", "out", str(path)]) == 2
    assert error_line(capsys) == f"asyncaction-job: cannot read {path}: {says}"


@pytest.mark.parametrize(
    "hook",
    ["http://127.0.0.1:abc", "http://[::1", "ftp://hook", "hook:8080", "http://"],
)
def test_a_malformed_job_hook_names_the_setting(
    in_a_job: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], hook: str
) -> None:
    in_a_job.setenv("JOB_HOOK", hook)
    assert main(["action"]) == 2
    assert error_line(capsys).startswith(
        f"asyncaction-job: JOB_HOOK {hook!r} is not an http(s) URL of the hook"
    )


def test_the_entrypoint_module_outside_a_job_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in JOB_ENV:
        monkeypatch.delenv(name, raising=False)
    done = subprocess.run(
        [sys.executable, "-m", "asyncaction_job.entrypoint", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "asyncaction-job: JOB_ID, JOB_SECRET_KEY, JOB_HOOK not set: "
        "is this running as an AsyncAction job?\n",
    )


@pytest.mark.parametrize(
    ("command", "code", "says"),
    [
        ("no-such-command-anywhere", 127, "No such file or directory"),
        ("{tmp}", 126, "Permission denied"),  # a directory: found but not runnable
    ],
)
def test_a_command_that_cannot_start_fails_the_action_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    code: int,
    says: str,
) -> None:
    from tests.unit.job.test_client import client, start_hook

    monkeypatch.setenv("ASYNCACTION_WORKDIR", str(tmp_path / "work"))
    hook = start_hook()
    try:
        argv = command.format(tmp=tmp_path)
        assert run([argv], client(hook)) == code
    finally:
        hook.shutdown()
    message = f"cannot run {argv}: {says}"
    assert hook.seen[-1] == ("POST", "/base/status", {"status": "FAILED", "errorMessage": message})
    assert capsys.readouterr().err == f"asyncaction-job: {message}\n"
