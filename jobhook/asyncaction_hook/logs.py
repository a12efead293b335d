"""Log lines as JSON objects (``asyncaction-hook --log-format json``), one per line.

The same fields as kopf's JSON lines on the operator (``timestamp``, ``level``,
``logger``, ``message``), plus the action a line is about when the call names it with
``extra={"action": {...}}`` (namespace, name, uid, attempt): log pipelines can then
select every line of one action across both services.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

ACTION_FIELDS = ("namespace", "name", "uid", "attempt")


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
            line.update({k: action[k] for k in ACTION_FIELDS if action.get(k) is not None})
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
