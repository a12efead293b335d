import pytest

from asyncaction_testbed.nodeagent.env import EnvError, expand, referenced_names, resolve_env

POD = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
    "spec": {"nodeName": "n"},
}


def test_expand_like_kubernetes() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)-$(C)-$$(A)", env) == "1-two-$(C)-$(A)"


def test_env_sources_in_order() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "URL", "value": "http://$(POD):$(CM_PORT)"},
            {
                "name": "OPT",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "no", "optional": True}},
            },
        ],
    }
    env = resolve_env(container, POD, {"s": {"k": "secret"}}, {"cm": {"PORT": "80"}})
    assert env == {"CM_PORT": "80", "TOKEN": "secret", "POD": "p", "APP": "x", "URL": "http://p:80"}


def test_missing_references_are_errors() -> None:
    container = {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}
    with pytest.raises(EnvError, match="secret 's' not found"):
        resolve_env(container, POD, {}, {})
    with pytest.raises(EnvError, match="has no key"):
        resolve_env(container, POD, {"s": {}}, {})


def test_referenced_names_cover_init_containers() -> None:
    pod = {
        "spec": {
            "initContainers": [{"envFrom": [{"secretRef": {"name": "a"}}]}],
            "containers": [
                {
                    "env": [
                        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "b", "key": "k"}}}
                    ]
                }
            ],
        }
    }
    assert referenced_names(pod) == ({"a"}, {"b"})
