"""Which job hook replica serves an action.

Replay protection needs every request of one action to reach the same hook process.
With several replicas (e.g. a StatefulSet ``asyncaction-hook-0..N-1``), the operator
gives each job a ``JOB_HOOK`` built from a template with ``{shard}``, and each replica
refuses actions of other shards, so no replica ever sees another's signatures.
"""

from __future__ import annotations

import hashlib


def shard_of(uid: str, shards: int) -> int:
    if shards <= 1:
        return 0
    return int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) % shards


def hook_url_for(template: str, uid: str, shards: int) -> str:
    """``http://asyncaction-hook-{shard}.asyncaction-hook:8080`` → that action's replica."""
    return template.replace("{shard}", str(shard_of(uid, shards)))
