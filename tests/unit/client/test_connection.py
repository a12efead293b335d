from pathlib import Path

import pytest

from asyncaction_client.connection import context_namespace, kubeconfig_paths

CONTEXTS = [
    {"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}},
    {"name": "prod", "context": {"cluster": "c", "user": "u"}},
]


def test_the_chosen_contexts_namespace() -> None:
    assert context_namespace(CONTEXTS, CONTEXTS[0], None) == "team-a"
    assert context_namespace(CONTEXTS, CONTEXTS[0], "prod") is None
    assert context_namespace(CONTEXTS, CONTEXTS[1], "dev") == "team-a"


def test_an_unknown_context_is_an_error() -> None:
    with pytest.raises(ValueError, match='context "nope" does not exist'):
        context_namespace(CONTEXTS, CONTEXTS[0], "nope")


def test_kubeconfig_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert kubeconfig_paths(None) is None  # in-cluster then
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("{}")
    assert kubeconfig_paths(None) == str(tmp_path / ".kube" / "config")
    monkeypatch.setenv("KUBECONFIG", "/a:/b")
    assert kubeconfig_paths(None) == "/a:/b"
    assert kubeconfig_paths("/explicit") == "/explicit"
