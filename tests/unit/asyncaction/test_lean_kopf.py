"""The operator process does not load the Kubernetes client libraries (issue 13's memory
goal): kopf imports them, when installed, only to recognise their model objects, which
the operator never hands it, and they cost about 40 MiB of resident memory."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import asyncaction.handlers, asyncaction.main  # either may come first
print(sorted(name for name in ("kubernetes", "kubernetes_asyncio") if name in sys.modules))
import kubernetes.client, kubernetes_asyncio.client  # still importable by whoever needs them
print(kubernetes.client.V1ObjectMeta.__name__)
"""


def test_the_operator_imports_kopf_without_the_kubernetes_clients() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "V1ObjectMeta"]
