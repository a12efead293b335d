import pytest

from asyncaction.tenancy import (
    GrantError,
    StoreScope,
    declared_uris,
    key_allowed,
    refusal_message,
    refused_uris,
    scope_from_config,
)

STORE = StoreScope("default", "data", "p/", {"team-b": ("shared/b/", "p/actions/team-b/")})


def spec_naming(*uris: str) -> dict[str, object]:
    return {"arguments": [{"type": "input", "value": uri} for uri in uris]}


def test_without_grants_a_namespace_has_only_its_own_area() -> None:
    assert key_allowed(STORE, "p/actions/team-a/x/y.txt", "team-a")
    assert not key_allowed(STORE, "p/actions/team-b/x", "team-a")  # another namespace's
    assert not key_allowed(STORE, "p/actions/team-a-evil/x", "team-a")  # a prefix lookalike
    assert not key_allowed(STORE, "p/archive/team-a/a.json", "team-a")
    assert not key_allowed(STORE, "other/x", "team-a")


def test_grants_replace_the_default() -> None:
    assert key_allowed(STORE, "shared/b/set.csv", "team-b")
    assert key_allowed(STORE, "p/actions/team-b/k", "team-b")
    assert not key_allowed(STORE, "shared/a/set.csv", "team-b")
    own = "p/actions/team-c/uid/"
    assert key_allowed(STORE, own + "notes/md5", "team-c", extra=(own,))


@pytest.mark.parametrize(
    "key", ["p/actions/team-a/../team-b/x", "p/actions/team-a/./x", "p/actions/team-a//x", ""]
)
def test_dot_segments_and_empty_segments_are_never_allowed(key: str) -> None:
    assert not key_allowed(STORE, key, "team-a")


def test_every_declared_uri_is_checked() -> None:
    spec = {
        "arguments": [
            {"type": "input", "value": "s3://data/p/actions/team-a/in"},
            {"type": "parameter", "value": "s3://data/not/a/uri/argument"},
            {"type": "output", "value": "s3://data/p/actions/team-b/out"},
        ],
        "stdin": {"type": "uri", "value": "s3://data/p/archive/x"},
        "stdout": {"type": "pipe"},
        "inputs": ["s3://elsewhere/p/actions/team-a/"],
        "outputs": ["s3://data/p/actions/team-a/out/"],
    }
    assert len(declared_uris(spec)) == 5
    refused = refused_uris(spec, "team-a", [STORE])
    assert [r.split(":", 2)[1] for r in refused] == [
        "//data/p/actions/team-b/out",
        "//data/p/archive/x",
        "//elsewhere/p/actions/team-a/",
    ]
    assert "not a configured store" in refused[2]
    assert refused_uris(spec_naming("s3://data/p/actions/team-a/in"), "team-a", [STORE]) == []
    message = refusal_message([f"u{n}" for n in range(5)])
    assert message.endswith("u0; u1; u2 (and 2 more)")


@pytest.mark.parametrize(
    "grant", ["", "p/", "p/archive/", "p/archive/team-a/", "p/actions/../archive/", "x"]
)
def test_grants_reaching_the_archive_or_malformed_are_refused(grant: str) -> None:
    with pytest.raises(GrantError):
        scope_from_config("default", {"bucket": "data", "prefix": "p/", "grants": {"a": [grant]}})


def test_scope_from_config() -> None:
    scope = scope_from_config(
        "default", {"bucket": "data", "prefix": "p/", "grants": {"a": ["shared/a/"]}}
    )
    assert scope.allowed_prefixes("a") == ("shared/a/",)
    assert scope.allowed_prefixes("b") == ("p/actions/b/",)


# An action's spec as the API server serves it (camelCase JSON of AsyncActionSpec).
SERVED_SPEC = {
    "template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}},
    "arguments": [
        {"name": "src", "type": "input", "value": "s3://data/p/actions/team-a/in.csv"},
        {"name": "n", "type": "parameter", "value": "3"},
        {"name": "dst", "type": "output", "value": "s3://data/p/actions/team-a/out.csv"},
    ],
    "stdin": {"type": "uri", "value": "s3://data/p/actions/team-a/stdin"},
    "stdout": {"type": "uri", "value": "s3://data/p/actions/team-b/stdout"},
    "stderr": {"type": "uri", "value": "s3://data/p/archive/stderr"},
    "inputs": ["s3://data/p/actions/team-a/more/"],
    "outputs": ["s3://data/p/actions/team-a/results/"],
}


def test_every_uri_carrying_field_is_declared_in_order() -> None:
    assert declared_uris(SERVED_SPEC) == [
        "s3://data/p/actions/team-a/in.csv",
        "s3://data/p/actions/team-a/out.csv",
        "s3://data/p/actions/team-a/stdin",
        "s3://data/p/actions/team-b/stdout",
        "s3://data/p/archive/stderr",
        "s3://data/p/actions/team-a/more/",
        "s3://data/p/actions/team-a/results/",
    ]


def test_stdout_and_stderr_uris_are_checked_like_every_other() -> None:
    """A job writing its stdout into another namespace's area, or its stderr into the
    archive, is refused before any Job exists."""
    only = "namespace team-a may use only p/actions/team-a/ in data"
    assert refused_uris(SERVED_SPEC, "team-a", [STORE]) == [
        f"s3://data/p/actions/team-b/stdout: {only}",
        f"s3://data/p/archive/stderr: {only}",
    ]
    for stream in ("stdin", "stdout", "stderr"):
        spec = {stream: {"type": "uri", "value": "s3://data/p/actions/team-b/x"}}
        assert len(refused_uris(spec, "team-a", [STORE])) == 1, stream
        assert refused_uris({stream: {"type": "pipe"}}, "team-a", [STORE]) == []


def test_a_malformed_uri_does_not_hide_the_refused_ones_after_it() -> None:
    spec = {
        "arguments": [
            {"name": "a", "type": "input", "value": "http://data/p/actions/team-a/x"},
            {"name": "b", "type": "input"},  # no value: refused, named as empty
            {"name": "c", "type": "input", "value": "s3://bucket-only"},
            {"name": "d", "type": "input", "value": "s3:/data/p/actions/team-a/x"},
            {"name": "e", "type": "output", "value": "s3://data/p/actions/team-b/y"},
        ],
        "stdout": {"type": "uri"},
    }
    assert refused_uris(spec, "team-a", [STORE]) == [
        "http://data/p/actions/team-a/x: not an s3://bucket/key URI",
        ": not an s3://bucket/key URI",
        "s3://bucket-only: not an s3://bucket/key URI",
        "s3:/data/p/actions/team-a/x: not an s3://bucket/key URI",
        "s3://data/p/actions/team-b/y: namespace team-a may use only p/actions/team-a/ in data",
        ": not an s3://bucket/key URI",
    ]


def test_a_refusal_names_every_allowed_prefix_and_the_bucket() -> None:
    other = StoreScope("other", "elsewhere")
    refused = refused_uris(spec_naming("s3://data/x/y", "s3://nope/k"), "team-b", [other, STORE])
    assert refused == [
        "s3://data/x/y: namespace team-b may use only shared/b/, p/actions/team-b/ in data",
        "s3://nope/k: bucket nope is not a configured store",
    ]
    # the first store whose bucket matches decides, and a store without prefix works
    assert refused_uris(spec_naming("s3://elsewhere/actions/team-b/k"), "team-b", [other]) == []


@pytest.mark.parametrize(
    ("count", "suffix"),
    [(1, ": u0"), (3, ": u0; u1; u2"), (4, ": u0; u1; u2 (and 1 more)")],
)
def test_the_refusal_message_shows_three_and_counts_the_rest(count: int, suffix: str) -> None:
    message = refusal_message([f"u{n}" for n in range(count)])
    assert message == "S3 keys outside the namespace's grants" + suffix


@pytest.mark.parametrize(
    ("key", "safe"),
    [
        ("a/b/c", True),
        ("a/b/", True),
        ("/a/b", False),
        ("a//b", False),
        ("a/./b", False),
        ("a/../b", False),
        ("a/..", False),
        ("./a", False),
        ("a/..X", True),  # only '/' is stripped from the end
        ("XX/XXa", True),
    ],
)
def test_only_plain_segments_are_safe(key: str, safe: bool) -> None:
    from asyncaction.tenancy import safe_key

    assert safe_key(key) is safe


def test_scope_from_config_keeps_every_field() -> None:
    scope = scope_from_config("main", {"bucket": "data", "grants": {"a": ["x/"]}})
    assert scope == StoreScope("main", "data", "", {"a": ("x/",)})
    assert scope.archive_prefix == "archive/"
    assert scope_from_config("s", {"bucket": "b", "prefix": "p/"}) == StoreScope("s", "b", "p/", {})
    with pytest.raises(GrantError, match="store main: grants must map namespaces"):
        scope_from_config("main", {"bucket": "data", "grants": ["x/"]})
    with pytest.raises(GrantError, match="store s: grant 'archive/' of a covers the archive"):
        scope_from_config("s", {"bucket": "b", "grants": {"a": ["archive/"]}})
