"""``asyncaction-operator`` refuses bad settings and a missing master keys file at once,
naming the variable, with a non-zero exit code (no cluster needed: nothing reaches it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asyncaction.main import main, parse_args


def test_flags() -> None:
    args = parse_args(["-n", "a,b", "-n", "c", "--liveness", "", "--log-format", "json"])
    assert args.namespace == ["a,b", "c"]
    assert args.liveness == ""
    assert args.log_format == "json"
    assert parse_args([]).liveness == "http://0.0.0.0:8081/healthz"


def test_invalid_settings_exit_2_naming_each_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ASYNCACTION_WORKERS", "0")
    monkeypatch.setenv("ASYNCACTION_POLL_SECONDS", "30s")
    assert main(["--liveness", ""]) == 2
    assert "ASYNCACTION_WORKERS='0'" in caplog.text
    assert "ASYNCACTION_POLL_SECONDS='30s': expected a number of seconds" in caplog.text


def test_a_missing_master_keys_file_exits_1_naming_the_setting(tmp_path: Path) -> None:
    """Run as users do, in a process of its own: kopf installs signal handlers that
    must not outlive the operator inside the test runner's process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCACTION_")}
    env["ASYNCACTION_MASTER_KEYS_FILE"] = "/nonexistent/master-keys"
    done = subprocess.run(
        [sys.executable, "-m", "asyncaction.main", "-n", "a", "--liveness", ""],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "ASYNCACTION_MASTER_KEYS_FILE=/nonexistent/master-keys" in output
    assert "cannot read the master keys file" in output
