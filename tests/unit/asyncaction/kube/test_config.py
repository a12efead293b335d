import base64
from pathlib import Path

import pytest
import yaml

from asyncaction.kube.config import ConfigError, from_kubeconfig, load_connection


def write(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def doc(user: dict[str, object], cluster: dict[str, object]) -> dict[str, object]:
    return {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ns"}}],
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
    }


def test_token_and_inline_ca(tmp_path: Path) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n"
    path = write(
        tmp_path,
        doc(
            {"token": "t0k"},
            {
                "server": "https://127.0.0.1:6443/",
                "certificate-authority-data": base64.b64encode(pem).decode(),
            },
        ),
    )
    info = from_kubeconfig(path)
    assert info.server == "https://127.0.0.1:6443"
    assert info.bearer_token() == "t0k"
    assert info.default_namespace == "ns"
    assert info.ca_file is not None
    assert Path(info.ca_file).read_bytes() == pem
    assert from_kubeconfig(path).ca_file == info.ca_file  # reused, not a new temp file


def test_files_are_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    path = write(
        tmp_path,
        doc(
            {"tokenFile": "token", "client-certificate": "c.crt", "client-key": "c.key"},
            {"server": "https://x", "certificate-authority": "ca.crt"},
        ),
    )
    info = from_kubeconfig(path)
    assert info.bearer_token() == "from-file"
    assert info.ca_file == str(tmp_path / "ca.crt")
    assert info.cert_file == str(tmp_path / "c.crt")


def test_missing_context_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, {"contexts": []})
    with pytest.raises(ConfigError, match="no current-context"):
        from_kubeconfig(path)


def test_nothing_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="no Kubernetes configuration"):
        load_connection()
