from pathlib import Path

import pytest

from asyncaction.settings import (
    OperatorSettings,
    SettingsError,
    split_namespaces,
    unknown_variables,
)


def test_defaults_are_production_values() -> None:
    settings = OperatorSettings.from_env({})
    assert settings == OperatorSettings()
    assert settings.backoff_base_seconds == 10.0
    assert settings.entrypoint == ("asyncaction-job", "run", "--")
    assert (settings.lease_seconds, settings.lease_renew_deadline_seconds) == (15, 10.0)
    assert settings.lease_renew_seconds == 2.0
    assert settings.namespaces == ()
    assert settings.lease_home == "default"


def test_environment_overrides_by_type() -> None:
    settings = OperatorSettings.from_env(
        {
            "ASYNCACTION_HOOK_URL": "http://hook:9000/base",
            "ASYNCACTION_BACKOFF_BASE_SECONDS": "0.5",
            "ASYNCACTION_DEFAULT_MAX_CONCURRENT": "3",
            "ASYNCACTION_ENTRYPOINT": "/opt/entry run --",
            "UNRELATED": "x",
        }
    )
    assert settings.hook_url == "http://hook:9000/base"
    assert settings.backoff_base_seconds == 0.5
    assert settings.default_max_concurrent == 3
    assert settings.entrypoint == ("/opt/entry", "run", "--")


def test_namespaces_split_on_spaces_and_commas() -> None:
    env = {"ASYNCACTION_NAMESPACES": "a,b  c ,d,,a"}
    settings = OperatorSettings.from_env(env)
    assert settings.namespaces == ("a", "b", "c", "d")
    assert settings.lease_home == "a"
    assert split_namespaces(["x,y", "z"]) == ("x", "y", "z")


def test_cli_namespaces_override_the_environment() -> None:
    settings = OperatorSettings.from_env({"ASYNCACTION_NAMESPACES": "a"}, namespaces=["b,c", "d"])
    assert settings.namespaces == ("b", "c", "d")


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        OperatorSettings.from_env(env)
    return str(caught.value)


def test_out_of_range_values_are_refused_naming_the_variable() -> None:
    message = refusal({"ASYNCACTION_WORKERS": "0"})
    assert "ASYNCACTION_WORKERS='0'" in message
    assert "greater than or equal to 1" in message


def test_malformed_values_name_the_variable_and_the_expected_form() -> None:
    message = refusal({"ASYNCACTION_POLL_SECONDS": "30s", "ASYNCACTION_WORKERS": "many"})
    assert "ASYNCACTION_POLL_SECONDS='30s': expected a number of seconds" in message
    assert "ASYNCACTION_WORKERS='many': expected a whole number" in message


def test_a_namespace_that_is_no_name_is_refused() -> None:
    assert "ASYNCACTION_NAMESPACES" in refusal({"ASYNCACTION_NAMESPACES": "ok Not_OK"})


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ASYNCACTION_POLL_SECONDS", "inf", "a finite number"),
        ("ASYNCACTION_RESYNC_SECONDS", "infinity", "a finite number"),
        ("ASYNCACTION_BACKOFF_MAX_SECONDS", "inf", "a finite number"),
        ("ASYNCACTION_EVENTS_PER_SECOND", "inf", "a finite number"),
        ("ASYNCACTION_HOOK_URL", "asyncaction-hook:8080", "an http:// or https:// URL"),
        ("ASYNCACTION_LEASE_NAME", "My Lease/x", "a Kubernetes object name"),
        ("ASYNCACTION_LEASE_NAMESPACE", "Kube System", "a namespace name"),
    ],
)
def test_values_that_would_fail_later_are_refused_at_start(
    variable: str, value: str, expected: str
) -> None:
    """Accepted until now (found by review): ``inf`` timings (a reconcile that never
    comes back), a hook URL without a scheme (every job's reports fail), a Lease name
    the API server refuses (acquired and retried for ever)."""
    message = refusal({variable: value})
    assert f"{variable}={value!r}: expected {expected}" in message


def test_inconsistent_lease_timings_are_refused() -> None:
    message = refusal(
        {"ASYNCACTION_LEASE_SECONDS": "10", "ASYNCACTION_LEASE_RENEW_DEADLINE_SECONDS": "10"}
    )
    assert "ASYNCACTION_LEASE_RENEW_DEADLINE_SECONDS (10.0) must be shorter than" in message
    assert "ASYNCACTION_LEASE_SECONDS (10)" in message
    message = refusal({"ASYNCACTION_LEASE_SECONDS": "15", "ASYNCACTION_LEASE_RENEW_SECONDS": "15"})
    assert "ASYNCACTION_LEASE_RENEW_SECONDS (15.0) must be shorter than" in message


def test_the_renew_deadline_defaults_to_two_thirds_of_the_lease() -> None:
    settings = OperatorSettings.from_env(
        {"ASYNCACTION_LEASE_SECONDS": "6", "ASYNCACTION_LEASE_RENEW_SECONDS": "1"}
    )
    assert settings.lease_renew_deadline_seconds == 4.0


def test_sharded_hooks_need_the_shard_in_the_url() -> None:
    assert "ASYNCACTION_HOOK_URL must contain '{shard}'" in refusal(
        {"ASYNCACTION_HOOK_SHARDS": "2"}
    )


def test_every_setting_is_documented() -> None:
    """docs/configuration.md stays true: each variable the operator reads has its row."""
    from pathlib import Path

    from asyncaction.settings import env_name

    doc = (Path(__file__).parents[3] / "docs" / "configuration.md").read_text()
    missing = [env_name(n) for n in OperatorSettings.model_fields if f"`{env_name(n)}`" not in doc]
    assert missing == []


def test_a_misspelled_variable_is_named_with_the_setting_it_resembles() -> None:
    env = {
        "ASYNCACTION_WORKER": "4",  # meant: ASYNCACTION_WORKERS
        "ASYNCACTION_POLL_SECOND": "30",
        "ASYNCACTION_WORKERS": "8",
        "ASYNCACTION_KUBECONFIG": "/etc/kube",  # read, though no setting
        "ASYNCACTION_SOMETHING_ELSE": "x",
        "KUBECONFIG": "/root/.kube/config",
    }
    assert unknown_variables(env) == [
        "ASYNCACTION_POLL_SECOND is no setting of the operator"
        " (did you mean ASYNCACTION_POLL_SECONDS?): ignored",
        "ASYNCACTION_SOMETHING_ELSE is no setting of the operator: ignored",
        "ASYNCACTION_WORKER is no setting of the operator"
        " (did you mean ASYNCACTION_WORKERS?): ignored",
    ]
    assert OperatorSettings.from_env(env).workers == 8  # the others change nothing


def test_the_operator_warns_of_a_misspelled_variable_at_start(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:  # a taken liveness port: it stops at once after
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        liveness = f"http://127.0.0.1:{taken.getsockname()[1]}/healthz"
        ran = subprocess.run(
            [sys.executable, "-m", "asyncaction.main", "--liveness", liveness],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "ASYNCACTION_WORKER": "4"},
            check=False,
        )
    assert (
        "[WARNING ] ASYNCACTION_WORKER is no setting of the operator"
        " (did you mean ASYNCACTION_WORKERS?): ignored"
    ) in ran.stderr
