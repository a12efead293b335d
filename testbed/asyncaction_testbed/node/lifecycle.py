"""``RealNode``: starting and stopping the machine's node in an order the host survives.

A start checks the machine (``preflight``), takes the owner record (``ownership``) and,
before anything on the host changes, writes ``host.snapshot()`` to
``/run/asyncaction-node/host-before.json``; then it writes the configuration files,
sets up the network, starts containerd, imports the images and starts the other
processes. A stop (``make down``) stops the processes and restores the host from that
record with ``host.clean``; so does the next start after a node whose owner died. A
failed start is stopped the same way.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from asyncaction_testbed import procs
from asyncaction_testbed.images.cache import BuiltImage
from asyncaction_testbed.images.containerd import ctr_command, import_image
from asyncaction_testbed.images.recipes import build_pause_image
from asyncaction_testbed.node import config as cfg
from asyncaction_testbed.node import host, network, processes
from asyncaction_testbed.node.config_files import write_config_files
from asyncaction_testbed.node.ownership import (
    RUN_DIR,
    NodeInUse,
    current_owner,
    machine_lock,
    read_owner,
)
from asyncaction_testbed.node.preflight import NodeUnavailable, unavailable_reason


class RealNode:
    """The machine's node as run for one state directory (``make up``'s or a test's)."""

    def __init__(
        self, state: Path, run: Path = RUN_DIR, *, owner_label: str = "", tied: bool = False
    ) -> None:
        """``tied``: the node belongs to this process (a test session), not to ``state``."""
        self.paths = cfg.NodePaths(Path(state).resolve(), run)
        self.owner_label = owner_label or str(self.paths.state)
        self.tied = tied

    @property
    def state(self) -> Path:
        return self.paths.state

    @property
    def ctr(self) -> list[str]:
        return ctr_command(self.paths.containerd_socket)

    def running(self) -> bool:
        owner = current_owner(self.paths.run)
        return owner is not None and Path(owner["state"]) == self.state

    def start(
        self, kubeconfig: Path, images: Sequence[BuiltImage] = (), timeout: float = 300
    ) -> None:
        """Start the node for the cluster of ``kubeconfig`` (or reuse it if we run it)."""
        reason = unavailable_reason()
        if reason:
            raise NodeUnavailable(reason)
        with machine_lock():
            owner = current_owner(self.paths.run)
            if owner is not None and Path(owner["state"]) != self.state:
                raise NodeInUse(
                    f"this machine's real node is in use by {owner['label']} "
                    f"(state {owner['state']}); stop it there (`make down`) to use it here"
                )
            if owner is None:
                self._clean_stale()
                self.paths.run.mkdir(parents=True, exist_ok=True)
                self.paths.host_record.write_text(
                    json.dumps(host.snapshot([self.paths.state, self.paths.run]))
                )
                pid = os.getpid()
                tied = {"pid": pid, "start": procs.start_time(pid)} if self.tied else None
                self.paths.owner.write_text(
                    json.dumps({"state": str(self.state), "label": self.owner_label, "tied": tied})
                )
            try:
                self._start(kubeconfig, images, timeout)
            except BaseException:
                self._stop_locked()
                raise

    def _start(self, kubeconfig: Path, images: Sequence[BuiltImage], timeout: float) -> None:
        paths = self.paths
        binaries = processes.node_binaries()
        env = processes.process_env()
        write_config_files(paths, kubeconfig)
        network.set_up_bridge()
        network.route_api_for_pods(kubeconfig)
        processes.start_containerd(paths, env)
        for image in (build_pause_image(binaries["pause"]), *images):
            import_image(self.ctr, image)
        processes.start_services(paths, binaries, kubeconfig, env)
        processes.wait(
            network.api_rule_first,
            120,
            "kube-proxy's rules",
            procs.log_file(paths.state, "kube-proxy"),
        )
        processes.wait(
            lambda: processes.node_ready(self.state, kubeconfig),
            timeout,
            "node Ready",
            procs.log_file(paths.state, "kubelet"),
        )
        processes.remove_not_ready_taint(kubeconfig)

    def stop(self) -> bool:
        """Stop the node if this state directory runs it and restore the host. True if it did."""
        with machine_lock():
            owner_file = self.paths.owner
            try:
                owner = json.loads(owner_file.read_text())
            except (OSError, ValueError):
                return False
            if Path(owner["state"]) != self.state:
                return False
            self._stop_locked()
            return True

    def _stop_locked(self) -> None:
        processes.stop_all(self.paths)
        self._restore()

    def _restore(self) -> None:
        try:
            before = json.loads(self.paths.host_record.read_text())
        except (OSError, ValueError):
            before = None
        if before is not None:
            host.clean(before, [self.paths.state, self.paths.run], self.paths.containerd_socket)
        shutil.rmtree(self.paths.run, ignore_errors=True)

    def _clean_stale(self) -> None:
        """A node whose owner is gone without ``stop``: stop what is left, restore the host."""
        record = self.paths.host_record
        if not record.exists():
            return
        print("[asyncaction] cleaning up after a real node that did not stop", flush=True)
        owner = read_owner(self.paths.run)
        if owner is not None:
            for name in reversed(processes.PROCESSES):
                procs.stop(Path(owner["state"]), name)
        host.kill_all(host.shim_pids(self.paths.containerd_socket))
        before = json.loads(record.read_text())
        extra = [Path(owner["state"])] if owner is not None else []
        host.clean(before, [*extra, self.paths.run], self.paths.containerd_socket)
        shutil.rmtree(self.paths.run, ignore_errors=True)

    def status(self) -> dict[str, bool]:
        return {name: procs.is_running(self.state, name) for name in processes.PROCESSES}
