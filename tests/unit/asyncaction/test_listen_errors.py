"""A port already taken stops each process naming the setting that chose it.

aiohttp's ``OSError`` said "address already in use" and the address, not which of
``--liveness``, ``ASYNCACTION_METRICS_BIND_ADDRESS``, the hook's ``--port`` or
``--metrics-port`` to change; the hook printed a traceback.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from asyncaction.runtime.listen import ListenError
from asyncaction.runtime.metrics_server import serve_metrics


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port another process listens on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def run(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        check=False,
    )


@pytest.mark.asyncio
async def test_the_metrics_address_taken_names_the_variable(taken: int) -> None:
    with pytest.raises(ListenError) as caught:
        await serve_metrics(
            CollectorRegistry(),
            f"127.0.0.1:{taken}",
            setting="ASYNCACTION_METRICS_BIND_ADDRESS",
        )
    assert str(caught.value).startswith(
        f"ASYNCACTION_METRICS_BIND_ADDRESS: cannot listen on http://127.0.0.1:{taken}: "
    )
    assert str(caught.value).endswith("address already in use")


def test_the_operator_with_its_liveness_port_taken_exits_1_naming_the_flag(
    taken: int, tmp_path: Path
) -> None:
    ran = run(
        "asyncaction.main",
        "--liveness",
        f"http://127.0.0.1:{taken}/healthz",
        env={"ASYNCACTION_KUBECONFIG": str(tmp_path / "none")},
    )
    assert ran.returncode == 1
    last = ran.stderr.strip().splitlines()[-1]
    said = f"the operator could not start: --liveness: cannot listen on http://127.0.0.1:{taken}:"
    assert said in last
    assert last.endswith("address already in use")


def test_the_hook_with_its_port_taken_exits_1_naming_the_flags(taken: int, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(secrets.token_urlsafe(48) + "\n")
    kubeconfig = tmp_path / "kubeconfig"  # a server nobody answers at: never reached
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    ran = run(
        "asyncaction_hook.main",
        "--host",
        "127.0.0.1",
        "--port",
        str(taken),
        "--master-keys-file",
        str(keys),
        "--kubeconfig",
        str(kubeconfig),
        env={},
    )
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr  # nor an unclosed session, nor a lost task
    assert "ERROR" not in ran.stderr
    assert (
        f"the job hook cannot start: --host/--port: cannot listen on http://127.0.0.1:{taken}:"
        in ran.stderr
    )
