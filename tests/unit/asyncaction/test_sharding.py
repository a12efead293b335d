from collections import Counter

from asyncaction.sharding import hook_url_for, shard_of


def test_one_replica_serves_everything() -> None:
    assert {shard_of(f"uid-{n}", 1) for n in range(50)} == {0}


def test_shards_are_stable_and_spread() -> None:
    uids = [f"6f1c2a9e-{n:04d}-4c1b-9d7e-1a2b3c4d5e6f" for n in range(400)]
    assert [shard_of(u, 3) for u in uids] == [shard_of(u, 3) for u in uids]
    counts = Counter(shard_of(u, 3) for u in uids)
    assert set(counts) == {0, 1, 2}
    assert min(counts.values()) > 80


def test_url_template() -> None:
    uid = "abc"
    url = hook_url_for("http://hook-{shard}.hook:8080", uid, 4)
    assert url == f"http://hook-{shard_of(uid, 4)}.hook:8080"
    assert hook_url_for("http://hook:8080", uid, 1) == "http://hook:8080"
