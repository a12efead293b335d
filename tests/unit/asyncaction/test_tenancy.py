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
