"""The store half of an informer: objects by key, indexes, and change handlers.

Kept apart from the list/watch loop (``runtime.informer``) because the rules of what a
cache holds do not depend on where its objects come from: a LIST page, a WATCH event
or a controller's own write all enter through ``_apply``, and a test or a benchmark
can drive it by hand.

- objects pass through a ``transform`` before they are stored, so the cache holds small
  summaries (no ``managedFields``, no Secret data) rather than whole objects, and a
  change that leaves the summary as it was (apart from its resourceVersion) notifies
  no handler: it cannot change a decision;
- indexes map a value computed by a key function (an owner uid, a label) to the keys
  of the objects that have it, for O(1) lookups by the controllers;
- handlers are called for every change with ``(event_type, new, old)``.

``put`` lets a controller record its own writes (the API server's answer to a create or
patch) so the next reconcile sees them before the watch event arrives. An event or
write never replaces a newer object: resourceVersions compare as integers when both are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = str
Transform = Callable[[Obj], Obj]
IndexFunc = Callable[[Obj], Iterable[str]]
Handler = Callable[[str, Obj | None, Obj | None], None]


def object_key(obj: Mapping[str, Any]) -> Key:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), as client-go keys them."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def strip_managed_fields(obj: Obj) -> Obj:
    """The default transform: drop what no controller reads and what costs most memory."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return obj


def _version(obj: Mapping[str, Any] | None) -> int | None:
    raw = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def is_older(candidate: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    """True when ``candidate`` is known to precede ``current`` (integer resourceVersions)."""
    new, old = _version(candidate), _version(current)
    return new is not None and old is not None and new < old


def _same_but_version(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Equal summaries apart from metadata.resourceVersion."""
    if new.keys() != old.keys():
        return False
    for field_name, value in new.items():
        if field_name != "metadata":
            if value != old[field_name]:
                return False
            continue
        meta, old_meta = value or {}, old.get("metadata") or {}
        if {k: v for k, v in meta.items() if k != "resourceVersion"} != {
            k: v for k, v in old_meta.items() if k != "resourceVersion"
        }:
            return False
    return True


@dataclass(kw_only=True)
class IndexedCache:
    """Objects by key, with indexes and handlers (the base of ``Informer``).

    Keyword-only fields, so that a subclass's own fields (an informer's client and
    path) come first in its constructor.
    """

    transform: Transform = strip_managed_fields
    name: str = ""
    items: dict[Key, Obj] = field(default_factory=dict)
    _index_funcs: dict[str, IndexFunc] = field(default_factory=dict)
    # value -> the key of the one object that has it, or the set of keys when several
    _indexes: dict[str, dict[str, Key | set[Key]]] = field(default_factory=dict)
    _handlers: list[Handler] = field(default_factory=list)

    def display_name(self) -> str:
        """What log lines call this cache."""
        return self.name

    # -- configuration -------------------------------------------------------------------

    def add_index(self, name: str, func: IndexFunc) -> None:
        self._index_funcs[name] = func
        self._indexes[name] = {}
        for key, obj in self.items.items():
            for value in func(obj):
                self._index_add(name, value, key)

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: Key) -> Obj | None:
        return self.items.get(key)

    def _keys(self, name: str, value: str) -> set[Key] | tuple[Key, ...]:
        keys = self._indexes[name].get(value, ())
        return (keys,) if isinstance(keys, str) else keys

    def by_index(self, name: str, value: str) -> list[Obj]:
        return [self.items[key] for key in self._keys(name, value) if key in self.items]

    def index_keys(self, name: str, value: str) -> set[Key]:
        return set(self._keys(name, value))

    # -- writes into the cache -----------------------------------------------------------

    def put(self, obj: Obj) -> None:
        """Store ``obj`` (an event's object or a write's answer) unless it is older."""
        self._store(obj)

    def _index_add(self, name: str, value: str, key: Key) -> None:
        index = self._indexes[name]
        keys = index.get(value)
        if keys is None:
            index[value] = key  # one key: most values (a uid) name one object
        elif isinstance(keys, str):
            if keys != key:
                index[value] = {keys, key}
        else:
            keys.add(key)

    def _unindex(self, key: Key, obj: Obj) -> None:
        for name, func in self._index_funcs.items():
            index = self._indexes[name]
            for value in func(obj):
                keys = index.get(value)
                if keys == key:
                    del index[value]
                elif isinstance(keys, set):
                    keys.discard(key)
                    if len(keys) == 1:
                        index[value] = next(iter(keys))

    def _index(self, key: Key, obj: Obj) -> None:
        for name, func in self._index_funcs.items():
            for value in func(obj):
                self._index_add(name, value, key)

    def _apply(self, event_type: str, raw: Obj) -> None:
        """A watch event or a listed object (``ADDED``/``MODIFIED``) into the cache."""
        if event_type == "DELETED":
            self._remove(raw)
        else:
            self._store(raw)

    def _remove(self, raw: Obj) -> None:
        key = object_key(raw)
        old = self.items.pop(key, None)
        if old is None:
            return
        self._unindex(key, old)
        self._notify("DELETED", None, old)

    def _store(self, raw: Obj) -> None:
        key = object_key(raw)
        old = self.items.get(key)
        if old is not None and is_older(raw, old):
            return
        if old is not None and _version(raw) is not None and _version(raw) == _version(old):
            return  # our own write seen again through the watch: nothing changed
        obj = self.transform(raw)
        if old is not None and _same_but_version(obj, old):
            self.items[key] = obj  # newer version, nothing a controller reads changed:
            return  # no event (a progress report, a Pod's heartbeat-like status write)
        if old is not None:
            self._unindex(key, old)
        self.items[key] = obj
        self._index(key, obj)
        self._notify("ADDED" if old is None else "MODIFIED", obj, old)

    def _notify(self, event_type: str, new: Obj | None, old: Obj | None) -> None:
        for handler in self._handlers:
            try:
                handler(event_type, new, old)
            except Exception:  # a handler's bug must not stop the cache
                log.exception("%s: handler failed on %s", self.display_name(), event_type)
