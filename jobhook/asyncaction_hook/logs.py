"""Log lines as JSON objects (``asyncaction-hook --log-format json``), one per line.

Common fields (``timestamp``, ``level``, ``logger``, ``message``), plus the action a
line is about when the call names it with ``extra=asyncaction.logfields.about(action)``:
an ``action`` object ``{namespace, name, uid, attempt}``, the same object the
operator's JSON lines (kopf's) carry, so log pipelines select every line of one action
across both services by ``action.uid``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from asyncaction.logfields import FIELDS as ACTION_FIELDS
from asyncaction.logfields import about


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        action = getattr(record, "action", None)
        if isinstance(action, dict):
            line["action"] = {k: action[k] for k in ACTION_FIELDS if action.get(k) is not None}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(log_format: str) -> None:
    """Root logging for the hook: ``plain`` text or ``json`` lines, INFO and up."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def about_uid(actions: Callable[[str], Mapping[str, Any] | None], uid: str) -> dict[str, Any]:
    """``extra`` for a line about the action of ``uid``: its fields from the cache
    (``actions``: a uid lookup), its uid alone when the cache does not hold it."""
    return about(actions(uid) or {"metadata": {"uid": uid}})
