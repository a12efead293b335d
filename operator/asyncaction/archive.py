"""Archiving a finished action's record to S3 when its TTL expires (contract, section 1).

The AsyncAction itself stays (GitOps tools would re-create and re-run a deleted one);
its Job and Secret are removed, and with an archive store configured its full record
goes to ``{prefix}archive/{namespace}/{day}/{name}-{uid}.json`` first, ``day`` being the
UTC date it finished (``YYYY-MM-DD``). The day level lets ``asyncaction archive list
--day`` list one namespace's day with one prefix, however many records the archive
holds (an S3 listing costs in proportion to the keys under the prefix).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def archive_day(action: Mapping[str, Any]) -> str:
    """The UTC day the action finished (its creation day if it never recorded one)."""
    stamp = (action.get("status") or {}).get("finishedAt") or action["metadata"].get(
        "creationTimestamp"
    )
    return str(stamp)[:10] if stamp else "undated"


def archive_key(prefix: str, action: Mapping[str, Any]) -> str:
    meta = action["metadata"]
    day = archive_day(action)
    return f"{prefix}archive/{meta['namespace']}/{day}/{meta['name']}-{meta['uid']}.json"


def archive_document(action: Mapping[str, Any]) -> bytes:
    """The record: the action as the API server has it, without server bookkeeping."""
    meta = {k: v for k, v in action.get("metadata", {}).items() if k != "managedFields"}
    return json.dumps({**action, "metadata": meta}, indent=2, sort_keys=True).encode()
