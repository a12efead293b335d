"""Start and stop helper processes for tests, with their output in a log file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_process(
    argv: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        list(argv),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_hook(
    kubeconfig: Path, stores_config: Path, log: Path, *flags: str, host: str = "127.0.0.1"
) -> tuple[subprocess.Popen[bytes], str]:
    """A job hook process on a free port of ``host`` (loopback), ready; returns it and its URL."""
    import sys

    port = free_port()
    proc = start_process(
        [
            sys.executable,
            "-m",
            "asyncaction_hook.main",
            "--host",
            host,
            "--port",
            str(port),
            "--kubeconfig",
            str(kubeconfig),
            "--stores-config",
            str(stores_config),
            *flags,
        ],
        log,
    )
    url = f"http://{host}:{port}"
    wait_http(f"{url}/readyz", 30, proc, log)
    return proc, url
