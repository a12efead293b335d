"""Archiving a finished action's record to S3 when its TTL expires (contract, section 1).

The AsyncAction itself stays (GitOps tools would re-create and re-run a deleted one);
its Job and Secret are removed, and with an archive store configured its full record
goes to ``{prefix}archive/{namespace}/{name}-{uid}.json`` first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def archive_key(prefix: str, action: Mapping[str, Any]) -> str:
    meta = action["metadata"]
    return f"{prefix}archive/{meta['namespace']}/{meta['name']}-{meta['uid']}.json"


def archive_document(action: Mapping[str, Any]) -> bytes:
    """The record: the action as the API server has it, without server bookkeeping."""
    meta = {k: v for k, v in action.get("metadata", {}).items() if k != "managedFields"}
    return json.dumps({**action, "metadata": meta}, indent=2, sort_keys=True).encode()
