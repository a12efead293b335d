from asyncaction.main import build_argv, parse_args


def test_default_is_standalone_all_namespaces_with_liveness() -> None:
    argv = build_argv(parse_args([]))
    assert argv[:3] == ["run", "--module", "asyncaction.handlers"]
    assert "--standalone" in argv
    assert "--all-namespaces" in argv
    assert argv[argv.index("--liveness") + 1] == "http://0.0.0.0:8081/healthz"


def test_namespaces_and_no_liveness() -> None:
    argv = build_argv(parse_args(["-n", "a", "-n", "b", "--liveness", ""]))
    assert argv.count("--namespace") == 2
    assert "--all-namespaces" not in argv
    assert "--standalone" in argv  # replicas elect a leader on a Lease, not kopf peering
    assert "--liveness" not in argv
