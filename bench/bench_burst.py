"""Throughput and memory of the operator for a burst of actions on the local test bed.

Starts a private control plane and node agent, runs the operator as a subprocess,
creates N actions at once (each a trivial command), and prints: time until all are
SUCCEEDED, actions per second, and the operator's peak resident memory.

    .venv/bin/python bench/bench_burst.py [N]   (default 50)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from asyncaction.keys import MASTER_KEYS_ENV
from asyncaction_testbed import procs
from asyncaction_testbed.controlplane import ControlPlane
from asyncaction_testbed.crds import install_crds
from tests.support.kube import Kube
from tests.support.procs import ensure_master_keys


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # peak resident set size
            return int(line.split()[1])
    return 0


def main(n: int) -> None:
    state = Path(tempfile.mkdtemp(prefix="aa-bench-"))
    plane = ControlPlane(state / "cp")
    plane.start()
    try:
        install_crds(plane.admin_kubeconfig)
        kube = Kube.from_kubeconfig(plane.admin_kubeconfig)
        kube.core.create_namespace({"metadata": {"name": "bench"}})
        time.sleep(1)
        env = {
            "ASYNCACTION_KUBECONFIG": str(plane.admin_kubeconfig),
            "ASYNCACTION_HOOK_URL": "http://127.0.0.1:9/none",
            "ASYNCACTION_POLL_SECONDS": "5",
            MASTER_KEYS_ENV: str(ensure_master_keys(state)),
        }
        procs.start(
            state,
            "nodeagent",
            [
                sys.executable,
                "-m",
                "asyncaction_testbed.nodeagent",
                "--kubeconfig",
                str(plane.admin_kubeconfig),
                "--log-dir",
                str(state / "pods"),
            ],
        )
        operator = procs.start(
            state,
            "operator",
            [sys.executable, "-m", "asyncaction.main", "-n", "bench", "--liveness", ""],
            env=env,
        )
        time.sleep(2)
        started = time.monotonic()
        for i in range(n):
            kube.create_action(
                "bench",
                {
                    "metadata": {"name": f"b-{i:04d}"},
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [{"name": "m", "image": "x", "command": ["true"]}]
                            }
                        }
                    },
                },
            )
        created = time.monotonic() - started
        peak = 0
        while True:
            phases = Counter(a.get("status", {}).get("phase") for a in kube.list_actions("bench"))
            peak = max(peak, rss_kib(operator))
            if phases["SUCCEEDED"] == n:
                break
            if time.monotonic() - started > 600:
                raise SystemExit(f"not done after 600 s: {phases}")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        print(f"actions: {n}")
        print(f"create calls: {created:.1f} s")
        print(f"all SUCCEEDED after: {elapsed:.1f} s ({n / elapsed:.2f} actions/s)")
        print(f"operator peak RSS: {peak / 1024:.0f} MiB")
    finally:
        for name in ("operator", "nodeagent"):
            procs.stop(state, name)
        plane.stop()
        subprocess.run(["rm", "-rf", str(state)], check=False)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
