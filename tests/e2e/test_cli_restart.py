"""`asyncaction wait` survives an API server restart: it reconnects with backoff and
re-lists, and still exits with the action's outcome.

The restart gets a control plane of its own: stopping the session's shared one would
break the operator, hook and node agent other tests use.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import pytest

from asyncaction.api.names import ACTION_PLURAL, GROUP, VERSION
from asyncaction_cli.outcomes import EXIT_SUCCEEDED
from tests.conftest import EXISTING
from tests.support.kube import Kube, action_manifest

if TYPE_CHECKING:
    from asyncaction_testbed.controlplane import ControlPlane

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    if EXISTING:
        pytest.skip("restarts a control plane of its own; not with an existing cluster")
    from asyncaction_testbed.controlplane import ControlPlane
    from asyncaction_testbed.crds import install_crds

    plane = ControlPlane(tmp_path_factory.mktemp("restart") / "cp")
    plane.start()
    install_crds(plane.admin_kubeconfig)
    yield plane
    plane.stop()


class Lines:
    """A process's stderr, line by line, readable with a timeout."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None, "the process was started without stderr=PIPE"
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line)

    def expect(self, fragment: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if fragment in line:
                return line
        raise AssertionError(f"no {fragment!r} in {timeout}s; last lines: {self.seen[-5:]}")


def test_wait_survives_an_api_server_restart(own_plane: ControlPlane) -> None:
    kubeconfig = own_plane.admin_kubeconfig
    kube = Kube.from_kubeconfig(kubeconfig)
    kube.create_action("default", action_manifest("survivor", ["true"]))
    waiter = subprocess.Popen(
        [sys.executable, "-m", "asyncaction_cli", "wait", "survivor", "-v", "-n", "default"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    try:
        lines = Lines(waiter.stderr)
        lines.expect("watching", 60)
        own_plane.stop()
        lines.expect("reconnecting in 1.0s", 60)  # backing off while the server is down
        own_plane.start()
        lines.expect("reconnected; watching", 120)  # once the server answers again
        Kube.from_kubeconfig(kubeconfig).custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, "default", ACTION_PLURAL, "survivor",
            {"status": {"phase": "SUCCEEDED", "result": {"after": "restart"}}},
        )  # fmt: skip
        lines.expect("survivor SUCCEEDED", 120)
        assert waiter.wait(timeout=60) == EXIT_SUCCEEDED
        assert waiter.stdout is not None
        assert waiter.stdout.read().splitlines()[1].split()[:2] == ["survivor", "SUCCEEDED"]
    finally:
        waiter.kill()
        waiter.wait()


class Heard(logging.Handler):
    """The client's log messages, so the test acts when the client has reached a state."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    async def expect(self, fragment: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not any(fragment in m for m in self.messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {fragment!r} in {seconds}s; last: {self.messages[-5:]}")
            await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_async_wait_survives_an_api_server_restart(own_plane: ControlPlane) -> None:
    from asyncaction_client import AsyncClient

    kubeconfig = own_plane.admin_kubeconfig
    Kube.from_kubeconfig(kubeconfig).create_action(
        "default", action_manifest("async-survivor", ["true"])
    )
    heard = Heard()
    logger = logging.getLogger("asyncaction_client")
    logger.addHandler(heard)
    logger.setLevel(logging.INFO)
    try:
        async with await AsyncClient.connect(kubeconfig=kubeconfig, namespace="default") as client:
            waiting = asyncio.create_task(client.wait("async-survivor", timeout=300))
            await heard.expect("watching", 60)
            await asyncio.to_thread(own_plane.stop)
            await heard.expect("reconnecting in 1.0s", 60)  # backing off while it is down
            await asyncio.to_thread(own_plane.start)
            await heard.expect("reconnected; watching", 120)
            await asyncio.to_thread(
                Kube.from_kubeconfig(kubeconfig).custom.patch_namespaced_custom_object_status,
                GROUP, VERSION, "default", ACTION_PLURAL, "async-survivor",
                {"status": {"phase": "SUCCEEDED", "result": {"after": "restart"}}},
            )  # fmt: skip
            assert await asyncio.wait_for(waiting, 120) == {"after": "restart"}
    finally:
        logger.removeHandler(heard)
