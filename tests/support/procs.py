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


def ensure_master_keys(directory: Path) -> Path:
    """The session's master keys file, shared by every operator and hook it starts.

    Written once (mode 0600) and named in ``ASYNCACTION_MASTER_KEYS_FILE``, which the
    operator reads and the hook takes as its ``--master-keys-file`` default.
    """
    import secrets

    from asyncaction.keys import MASTER_KEYS_ENV

    existing = os.environ.get(MASTER_KEYS_ENV)
    if existing and Path(existing).is_file():
        return Path(existing)
    path = directory / "master-keys"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48) + "\n")
    os.environ[MASTER_KEYS_ENV] = str(path)
    return path


def start_hook(
    kubeconfig: Path,
    stores_config: Path,
    log: Path,
    *flags: str,
    host: str = "127.0.0.1",
    port: int | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """A job hook process on ``host`` (loopback) and ``port`` (a free one by default),
    ready; returns it and its URL."""
    import sys

    keys = ensure_master_keys(log.parent)
    port = port or free_port()
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
            "--master-keys-file",
            str(keys),
            *flags,
        ],
        log,
    )
    url = f"http://{host}:{port}"
    wait_http(f"{url}/readyz", 30, proc, log)
    return proc, url
