"""The hook's route table (``asyncaction_hook.routing``): each decision aiohttp's router
made for the hook, made the same way by the table the hook's server uses."""

from __future__ import annotations

import pytest

from asyncaction_hook.routing import NoRoute, Route, Router

TABLE = [
    Route("POST", "/hook/status", "status"),
    Route("GET", "/hook/action", "action"),
    Route("GET", "/hook/download/{store}/{uuid}/{property}/{index}", "download"),
    Route("PUT", "/hook/upload/{store}/{uuid}/{property}", "upload"),
    Route("GET", "/hook/task", "task"),
    Route("POST", "/hook/task/{id}", "post task"),
    Route("GET", "/healthz", "healthz"),
]
ROUTER = Router(TABLE)


def test_a_static_path_is_its_route_with_no_values() -> None:
    route, params = ROUTER.resolve("POST", "/hook/status")
    assert (route.method, route.template, route.handler, dict(params)) == (
        "POST",
        "/hook/status",
        "status",
        {},
    )


def test_a_templated_path_gives_each_segment_unquoted_as_aiohttp_does() -> None:
    route, params = ROUTER.resolve("GET", "/hook/download/s3/u-1/inputs%2Fa/7")
    assert (route.template, route.handler) == (
        "/hook/download/{store}/{uuid}/{property}/{index}",
        "download",
    )
    # path_safe keeps %2F and %25 encoded; the router's values decode those two
    assert dict(params) == {"store": "s3", "uuid": "u-1", "property": "inputs/a", "index": "7"}
    _, params = ROUTER.resolve("POST", "/hook/task/100%25")
    assert dict(params) == {"id": "100%"}


def test_a_segment_never_spans_a_slash_and_paths_match_whole() -> None:
    for path in ("/hook/task/1/2", "/hook/status/", "/hook/statu", "/x/hook/status", ""):
        with pytest.raises(NoRoute) as missing:
            ROUTER.resolve("POST", path)
        assert (missing.value.status, missing.value.allowed) == (404, frozenset())
    with pytest.raises(NoRoute) as short:
        ROUTER.resolve("GET", "/hook/download/s3/u-1/inputs")  # a segment short
    assert short.value.status == 404


def test_head_is_answered_by_the_get_route() -> None:
    route, _ = ROUTER.resolve("HEAD", "/healthz")
    assert (route.method, route.handler) == ("GET", "healthz")


def test_another_method_on_a_known_path_is_405_naming_the_allowed_ones() -> None:
    with pytest.raises(NoRoute) as post:
        ROUTER.resolve("POST", "/healthz")
    assert (post.value.status, post.value.allowed) == (405, frozenset({"GET", "HEAD"}))
    with pytest.raises(NoRoute) as get:
        ROUTER.resolve("GET", "/hook/task/3")
    assert (get.value.status, get.value.allowed) == (405, frozenset({"POST"}))
    with pytest.raises(NoRoute) as head:
        ROUTER.resolve("HEAD", "/hook/status")
    assert (head.value.status, head.value.allowed) == (405, frozenset({"POST"}))


def test_two_routes_for_one_method_and_path_are_refused() -> None:
    with pytest.raises(ValueError, match="two routes for GET /healthz"):
        Router([Route("GET", "/healthz", "a"), Route("GET", "/healthz", "b")])
    # two methods on one path are one resource
    router = Router([Route("GET", "/t", "get"), Route("POST", "/t", "post")])
    assert router.resolve("POST", "/t")[0].handler == "post"
    assert router.resolve("GET", "/t")[0].handler == "get"
