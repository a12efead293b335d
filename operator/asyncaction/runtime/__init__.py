"""A small generic controller runtime (it knows nothing about actions).

- ``indexed_cache``: objects by key with indexes and change handlers;
- ``informer``: fills such a cache by LIST and WATCH, with server-side label selectors;
- ``workqueue``: de-duplicating work queue, one delay heap, per-key retry backoff;
- ``leader``: leader election on a coordination.k8s.io Lease;
- ``metrics``: counters and gauges the controllers update.

The domain controllers in ``asyncaction.controllers`` are built on these.
"""

from asyncaction.runtime.indexed_cache import object_key, strip_managed_fields
from asyncaction.runtime.informer import Informer, Informers
from asyncaction.runtime.leader import LeaderElector
from asyncaction.runtime.metrics import Metrics
from asyncaction.runtime.workqueue import RateLimiter, WorkQueue

__all__ = [
    "Informer",
    "Informers",
    "LeaderElector",
    "Metrics",
    "RateLimiter",
    "WorkQueue",
    "object_key",
    "strip_managed_fields",
]
