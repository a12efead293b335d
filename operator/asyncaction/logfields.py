"""The action a log line is about, as structured fields both services write alike.

``log.warning("...", extra=about(action))`` gives the record an ``action`` attribute
``{namespace, name, uid, attempt}``. With ``--log-format json`` the operator's lines
are kopf's JSON (python-json-logger writes every extra attribute) and the hook's are
``asyncaction_hook.logs.JsonFormatter``: both carry the same ``action`` object, so a log
pipeline selects every line of one action across both services by ``action.uid``. The
plain formats keep naming the action as ``namespace/name`` in the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELDS = ("namespace", "name", "uid", "attempt")


def about(action: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``extra`` for a log call about ``action`` (a whole object or the cache's summary);
    ``attempt`` is its current attempt (0 before the first)."""
    meta = action.get("metadata") or {}
    status = action.get("status") or {}
    fields = {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "attempt": status.get("attempts") or 0,
    }
    return {"action": fields}
