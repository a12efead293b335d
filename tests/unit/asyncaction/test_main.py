"""``asyncaction-operator`` refuses bad settings and a missing master keys file at once,
naming the variable, with a non-zero exit code (no cluster needed: nothing reaches it)."""

from __future__ import annotations

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


def test_a_missing_master_keys_file_exits_1_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ASYNCACTION_MASTER_KEYS_FILE", "/nonexistent/master-keys")
    assert main(["-n", "a", "--liveness", ""]) == 1
    assert "ASYNCACTION_MASTER_KEYS_FILE=/nonexistent/master-keys" in caplog.text
    assert "cannot read the master keys file" in caplog.text
