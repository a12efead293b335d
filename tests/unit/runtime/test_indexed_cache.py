from typing import Any

from asyncaction.runtime.indexed_cache import (
    IndexedCache,
    is_older,
    object_key,
    strip_managed_fields,
)


def obj(name: str, rv: str, ns: str = "ns", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "resourceVersion": rv,
            "labels": labels,
            "managedFields": [{"big": "x" * 100}],
        }
    }


def empty_cache() -> IndexedCache:
    # The store an informer fills; no request is made here.
    return IndexedCache()


def test_keys_and_the_default_transform() -> None:
    assert object_key(obj("a", "1")) == "ns/a"
    assert object_key({"metadata": {"name": "cluster-wide"}}) == "cluster-wide"
    assert "managedFields" not in strip_managed_fields(obj("a", "1"))["metadata"]


def test_older_versions_never_replace_newer_ones() -> None:
    assert is_older(obj("a", "9"), obj("a", "10"))
    assert not is_older(obj("a", "10"), obj("a", "9"))
    assert not is_older(obj("a", "opaque"), obj("a", "10"))
    assert not is_older(obj("a", "10"), obj("a", "10"))
    assert not is_older(obj("a", "9"), None)
    cache = empty_cache()
    seen: list[tuple[str, str | None]] = []
    cache.add_handler(
        lambda event, new, old: seen.append(
            (event, new["metadata"]["resourceVersion"] if new else None)
        )
    )
    cache.put(obj("a", "10"))
    cache.put(obj("a", "9"))  # a stale watch event after our own write's answer
    assert cache.get("ns/a")["metadata"]["resourceVersion"] == "10"  # type: ignore[index]
    cache.put(obj("a", "10"))  # our own write seen again: no event
    assert cache.get("ns/a")["metadata"]["resourceVersion"] == "10"  # type: ignore[index]
    assert seen == [("ADDED", "10")]


def test_indexes_follow_updates_and_deletions() -> None:
    cache = empty_cache()
    cache.add_index("app", lambda o: [o["metadata"]["labels"]["app"]])
    cache.put(obj("a", "1", app="x"))
    cache.put(obj("b", "2", app="x"))
    assert cache.index_keys("app", "x") == {"ns/a", "ns/b"}
    cache.put(obj("a", "3", app="y"))
    assert cache.index_keys("app", "x") == {"ns/b"}
    assert [o["metadata"]["name"] for o in cache.by_index("app", "y")] == ["a"]
    cache._apply("DELETED", obj("b", "4", app="x"))
    assert cache.index_keys("app", "x") == set()
    assert cache.get("ns/b") is None


def test_a_change_the_summary_does_not_show_notifies_nobody() -> None:
    cache = IndexedCache(
        transform=lambda o: {"metadata": o["metadata"], "status": {"phase": o["status"]["phase"]}},
    )
    events: list[str] = []
    cache.add_handler(lambda event, new, old: events.append(event))
    pod = {"metadata": {"name": "p", "namespace": "ns", "resourceVersion": "1"}}
    cache.put({**pod, "status": {"phase": "Pending", "noise": 1}})
    cache.put(
        {
            **pod,
            "metadata": {**pod["metadata"], "resourceVersion": "2"},
            "status": {"phase": "Pending", "noise": 2},
        }
    )
    assert events == ["ADDED"]
    assert cache.get("ns/p")["metadata"]["resourceVersion"] == "2"  # type: ignore[index]
    cache.put(
        {
            **pod,
            "metadata": {**pod["metadata"], "resourceVersion": "3"},
            "status": {"phase": "Running"},
        }
    )
    assert events == ["ADDED", "MODIFIED"]


def test_an_index_value_goes_from_one_key_to_several_and_back() -> None:
    """Most values (a uid) name one object: the index keeps them without a set each."""
    cache = empty_cache()
    cache.add_index("app", lambda o: [o["metadata"]["labels"]["app"]])
    cache.put(obj("a", "1", app="x"))
    keys = cache.index_keys("app", "x")
    assert keys == {"ns/a"}
    keys.add("ns/zzz")  # a copy: the caller may change it
    assert cache.index_keys("app", "x") == {"ns/a"}
    cache.put(obj("b", "2", app="x"))
    cache.put(obj("c", "3", app="x"))
    assert cache.index_keys("app", "x") == {"ns/a", "ns/b", "ns/c"}
    cache._apply("DELETED", obj("a", "4", app="x"))
    assert cache.index_keys("app", "x") == {"ns/b", "ns/c"}
    cache.put(obj("b", "5", app="y"))
    assert cache.index_keys("app", "x") == {"ns/c"}
    assert [o["metadata"]["name"] for o in cache.by_index("app", "x")] == ["c"]
    assert cache.index_keys("app", "y") == {"ns/b"}
    cache._apply("DELETED", obj("c", "6", app="x"))
    assert cache.index_keys("app", "x") == set()
    assert cache.by_index("app", "x") == []
    assert "x" not in cache._indexes["app"]
    assert all(isinstance(v, str) for v in cache._indexes["app"].values())


def test_an_index_built_after_the_cache_filled_has_the_same_entries() -> None:
    cache = empty_cache()
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        cache.put(obj(name, "1", app=app))
    cache.add_index("app", lambda o: [o["metadata"]["labels"]["app"]])
    assert cache.index_keys("app", "x") == {"ns/a", "ns/b"}
    assert cache.index_keys("app", "y") == {"ns/c"}


def test_the_default_transform_drops_only_what_no_controller_reads() -> None:
    kept = {"team": "a"}
    applied = {"kubectl.kubernetes.io/last-applied-configuration": "{...}", **kept}
    whole = obj("a", "1")
    whole["metadata"]["annotations"] = applied
    assert strip_managed_fields(whole) == {
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "resourceVersion": "1",
            "labels": {},
            "annotations": kept,
        }
    }
    assert strip_managed_fields({"kind": "Status"}) == {"kind": "Status"}
    lean = {"metadata": {"name": "b", "annotations": {"team": "a"}}}  # nothing to drop
    assert strip_managed_fields(lean) == {"metadata": {"name": "b", "annotations": {"team": "a"}}}
    assert strip_managed_fields({"metadata": None}) == {"metadata": None}


def test_handlers_are_told_the_new_and_the_old_summary() -> None:
    cache = empty_cache()
    seen: list[tuple[str, str | None, str | None]] = []

    def version(o: dict[str, Any] | None) -> str | None:
        return None if o is None else str(o["metadata"]["resourceVersion"])

    cache.add_handler(lambda event, new, old: seen.append((event, version(new), version(old))))
    cache.put(obj("a", "1", app="x"))
    cache.put(obj("a", "2", app="y"))
    cache._apply("DELETED", obj("a", "3", app="y"))
    cache._apply("DELETED", obj("a", "4", app="y"))  # gone already: nothing to tell
    assert seen == [("ADDED", "1", None), ("MODIFIED", "2", "1"), ("DELETED", None, "2")]
    assert cache.items == {}


def test_the_answer_to_our_own_write_seen_again_costs_no_transform() -> None:
    """The watch echoes every write the controller already put: same resourceVersion,
    same object, nothing to summarize again."""
    summarized: list[str] = []

    def transform(o: dict[str, Any]) -> dict[str, Any]:
        summarized.append(o["metadata"]["resourceVersion"])
        return o

    cache = IndexedCache(transform=transform)
    cache.put(obj("a", "5", app="x"))
    cache.put(obj("a", "5", app="changed?"))  # the same version cannot differ: ignored
    assert summarized == ["5"]
    assert cache.get("ns/a")["metadata"]["labels"] == {"app": "x"}  # type: ignore[index]


def test_opaque_versions_are_not_compared_and_every_change_is_seen() -> None:
    cache = empty_cache()
    events: list[str] = []
    cache.add_handler(lambda event, new, old: events.append(event))
    cache.put(obj("a", "opaque-1", app="x"))
    cache.put(obj("a", "opaque-2", app="y"))
    cache.put(obj("a", "opaque-2", app="z"))  # equal opaque versions prove nothing
    assert events == ["ADDED", "MODIFIED", "MODIFIED"]
    assert cache.get("ns/a")["metadata"]["labels"] == {"app": "z"}  # type: ignore[index]


def test_a_change_after_the_metadata_or_a_field_that_appears_is_seen() -> None:
    cache = IndexedCache(transform=lambda o: o)
    events: list[str] = []
    cache.add_handler(lambda event, new, old: events.append(event))
    meta = {"name": "p", "namespace": "ns"}
    cache.put({"metadata": {**meta, "resourceVersion": "1"}, "status": {"phase": "Pending"}})
    cache.put({"metadata": {**meta, "resourceVersion": "2"}, "status": {"phase": "Running"}})
    cache.put(
        {
            "metadata": {**meta, "resourceVersion": "3"},
            "status": {"phase": "Running"},
            "spec": {"x": 1},
        }
    )
    cache.put({"metadata": {**meta, "resourceVersion": "4", "labels": {"a": "b"}}})
    assert events == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED"]


def test_a_metadata_change_after_another_field_is_seen_and_events_enter_as_listed() -> None:
    cache = IndexedCache(transform=lambda o: o)
    events: list[str] = []
    cache.add_handler(lambda event, new, old: events.append(event))
    cache._apply("ADDED", {"status": {"phase": "Pending"}, "metadata": obj("p", "1")["metadata"]})
    cache._apply(
        "MODIFIED", {"status": {"phase": "Pending"}, "metadata": obj("p", "2", a="b")["metadata"]}
    )
    assert events == ["ADDED", "MODIFIED"]
    assert cache.get("ns/p")["metadata"]["labels"] == {"a": "b"}  # type: ignore[index]
