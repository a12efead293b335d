"""Certificates and keys of the local control plane, made with the ``openssl`` CLI.

A CA, the apiserver's serving certificate (for 127.0.0.1, localhost and the in-cluster
names), and the service-account signing key. Existing files are reused, so a restarted
control plane keeps its identity and existing kubeconfigs stay valid.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SAN = (
    "IP:127.0.0.1,IP:{advertise},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
    "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
)


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    sa_key: Path
    sa_pub: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def ensure_pki(directory: Path, advertise_address: str) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "apiserver.crt",
        server_key=directory / "apiserver.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    if not pki.ca_cert.exists():
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=asyncaction-local-ca",
            "-keyout",
            str(pki.ca_key),
            "-out",
            str(pki.ca_cert),
        )
    if not pki.server_cert.exists():
        csr = directory / "apiserver.csr"
        ext = directory / "apiserver.ext"
        ext.write_text(
            f"subjectAltName={SAN.format(advertise=advertise_address)}\n"
            "extendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=kube-apiserver",
            "-keyout",
            str(pki.server_key),
            "-out",
            str(csr),
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(pki.ca_cert),
            "-CAkey",
            str(pki.ca_key),
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            str(ext),
            "-out",
            str(pki.server_cert),
        )
    if not pki.sa_key.exists():
        _openssl("genrsa", "-out", str(pki.sa_key), "2048")
        _openssl("rsa", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub))
    for secret in (pki.ca_key, pki.server_key, pki.sa_key):
        secret.chmod(0o600)
    return pki
