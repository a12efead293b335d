from asyncaction.settings import OperatorSettings


def test_defaults_are_production_values() -> None:
    settings = OperatorSettings.from_env({})
    assert settings == OperatorSettings()
    assert settings.backoff_base_seconds == 10.0
    assert settings.entrypoint == ("asyncaction-job", "run", "--")


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
