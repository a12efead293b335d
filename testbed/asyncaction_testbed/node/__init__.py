"""A real Kubernetes node on this machine: containerd, kubelet, kube-proxy, scheduler, DNS.

One per machine (the kubelet has fixed host paths and the bridge is a host link): the
owner (a ``make up`` state directory or a test session) is recorded in
``/run/asyncaction-node/owner.json``; anyone else gets ``NodeInUse`` and keeps using the
node agent. Before anything changes, ``host.snapshot()`` is written to
``/run/asyncaction-node/host-before.json``; ``stop()`` stops every process and restores
the host from it (also after a crash: the next ``start`` first cleans a stale record).

Network: the bridge ``asyncaction0`` (10.200.0.1/24) is the node's address and the
pods' gateway; our own FORWARD chain drops whatever would leave the bridge, containerd
pulls through a proxy nobody serves, and dnsmasq answers Service names only.

Modules: ``lifecycle`` (``RealNode``: start and stop, in order), ``preflight`` (can
this machine run it), ``ownership`` (who runs it), ``config`` (pure configuration texts)
and ``config_files`` (writing them), ``network`` (bridge, guard chains, the API for
pods), ``processes`` (the programs, their argv and order), ``host`` (snapshot and
restore: what ``make down`` undoes), ``dns`` (Service names for dnsmasq). This module
only re-exports what the rest of the test bed uses.
"""

from __future__ import annotations

from asyncaction_testbed.node.lifecycle import RealNode
from asyncaction_testbed.node.ownership import RUN_DIR, NodeInUse, current_owner
from asyncaction_testbed.node.preflight import NodeUnavailable, unavailable_reason

__all__ = [
    "RUN_DIR",
    "NodeInUse",
    "NodeUnavailable",
    "RealNode",
    "current_owner",
    "unavailable_reason",
]
