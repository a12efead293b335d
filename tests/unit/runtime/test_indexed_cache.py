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
    cache = empty_cache()
    seen: list[tuple[str, str | None]] = []
    cache.add_handler(
        lambda event, new, old: seen.append((event, new and new["metadata"]["resourceVersion"]))
    )
    cache.put(obj("a", "10"))
    cache.put(obj("a", "9"))  # a stale watch event after our own write's answer
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
