"""How many actions of a namespace were active at once, sampled through the API.

The e2e tests of queue limits across operators (a leader stalled, killed, or handing
over to a warm standby) assert that a ``maxConcurrent`` queue never shows more active
actions than its limit, whichever replica leads. ``MostActive`` reads the actions every
``interval`` seconds in a thread while its block runs, as a user's ``kubectl get`` would.
"""

from __future__ import annotations

import threading
from collections import Counter
from types import TracebackType

from tests.support.kube import Kube

ACTIVE = ("STARTING", "RUNNING")


def phases(kube: Kube, namespace: str) -> Counter[str | None]:
    """The namespace's actions by phase (None: no phase yet)."""
    return Counter(a.get("status", {}).get("phase") for a in kube.list_actions(namespace))


def active(kube: Kube, namespace: str) -> int:
    counts = phases(kube, namespace)
    return sum(counts[phase] for phase in ACTIVE)


class MostActive:
    """``with MostActive(kube, ns) as sampled: ...`` then ``sampled.most``; or ``start()``
    and ``stop()`` where the sampling begins in the middle of a test."""

    def __init__(self, kube: Kube, namespace: str, interval: float = 0.05) -> None:
        self.kube = kube
        self.namespace = namespace
        self.interval = interval
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, active(self.kube, self.namespace))
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Idempotent, and harmless before ``start``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def __enter__(self) -> MostActive:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
