"""One object for equal values across the cached action summaries (memory at 100,000).

Each action the API server sends is decoded into its own dicts, lists and strings, and a
summary kept those: at 100,000 actions (half waiting with the same pod template, every
one with three conditions saying the same thing) the cache held about 4.4 KB per action,
most of it equal values repeated (``bench/bench_loop.py``, tracemalloc). Here:

- short strings that repeat (a phase, a reason, a queue, a message, a timestamp to the
  second) are interned (``sys.intern``: CPython frees an interned string with its last
  reference, so the table never outgrows what the caches hold);
- a pod template, a condition and a list of conditions equal to one seen recently are
  replaced by that one (``SharedValues``, a bounded table: at most ``limit`` distinct
  values are remembered, the least recently seen forgotten first).

Summaries are for reading only: nothing in the operator modifies a cached value
(``manifests.resolve_spec_shared`` shares them with each reconcile already; ``build_job``
copies the pod template it keeps). Sharing one object between actions relies on that.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

# What the controller reads of a condition (``lifecycle.conditions.conditions_for`` keeps
# ``lastTransitionTime`` while a status holds, ``lifecycle.waiting`` reads the Ready
# reason and message); ``observedGeneration`` of a condition is never read.
CONDITION_FIELDS = ("type", "status", "reason", "message", "lastTransitionTime")
INTERNED_LENGTH = 200  # longer strings rarely repeat: interning them costs a table slot


def interned(value: Any) -> Any:
    """``value`` itself, or the interned equal string when it is a short string."""
    if type(value) is str and len(value) <= INTERNED_LENGTH:
        return sys.intern(value)
    return value


class SharedValues:
    """A bounded table from a value's identity key to the first equal value seen."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._values: OrderedDict[Hashable, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable, value: Any) -> Any:
        """The value remembered under ``key``, or ``value`` (now remembered)."""
        found = self._values.get(key)
        if found is not None:
            self._values.move_to_end(key)
            return found
        self._values[key] = value
        if len(self._values) > self.limit:
            self._values.popitem(last=False)
        return value

    def json(self, value: Any) -> Any:
        """An equal JSON value seen before (a pod template), or ``value``.

        Keyed by a 128-bit digest of its canonical JSON (a collision among the few
        thousand remembered values is out of reach), so the table's own memory does not
        grow with the size of the templates."""
        text = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        return self.get(("json", hashlib.blake2b(text, digest_size=16).digest()), value)

    def conditions(self, conditions: Sequence[Any]) -> list[dict[str, Any]]:
        """The conditions with the fields read, each and the list shared when equal."""
        shared: list[dict[str, Any]] = []
        keys: list[Hashable] = []
        for condition in conditions:
            if not isinstance(condition, Mapping):
                continue
            kept = {
                field: interned(condition[field])
                for field in CONDITION_FIELDS
                if field in condition
            }
            key = ("condition", *(kept.get(field) for field in CONDITION_FIELDS))
            try:
                shared.append(self.get(key, kept))
            except TypeError:  # a value the schema did not expect (unhashable): no sharing
                return [
                    {field: c[field] for field in CONDITION_FIELDS if field in c}
                    for c in conditions
                    if isinstance(c, Mapping)
                ]
            keys.append(key)
        result: list[dict[str, Any]] = self.get(("conditions", *keys), shared)
        return result
