"""The hook's route table: which handler answers a request's method and path.

The hook serves on its own HTTP protocol (``httpserver``), not on a
``web.Application``: a handful of fixed routes do not need the application's router,
middleware chain and per-request match objects, and every report paid for them (about
12 µs of the hook's 180 to 240 µs a report on the project's machine; see
``docs/performance.md``). What aiohttp's router did for the hook is kept here, as it
did it:

- the path matched is the request's path percent-decoded except ``%2F`` and ``%25``
  (yarl's ``path_safe``, ``httpserver.Request.path``); a ``{name}`` segment matches
  ``[^{}/]+`` and its value is unquoted as aiohttp unquotes it;
- a GET route answers HEAD too (aiohttp sends no body for HEAD);
- a known path asked with another method is 405 with ``Allow``; any other path is 404.

Pure: no I/O, so ``tests/unit/hook/test_routing.py`` checks every decision directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

H = TypeVar("H")

_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NO_PARAMS: Mapping[str, str] = {}


class NoRoute(Exception):
    """No route answers: 404 (``allowed`` empty), or 405 with the methods it allows."""

    def __init__(self, status: int, allowed: frozenset[str] = frozenset()) -> None:
        super().__init__(status)
        self.status = status
        self.allowed = allowed


@dataclass(frozen=True)
class Route(Generic[H]):
    method: str  # GET, POST or PUT
    template: str  # "/download/{store}/{uuid}/{property}/{index}": the metrics' route label
    handler: H


def _unquote(value: str) -> str:
    """A segment's value as aiohttp's router gives it (``path_safe`` keeps these two)."""
    if "%" not in value:
        return value
    return value.replace("%2F", "/").replace("%25", "%")


def _pattern(template: str) -> re.Pattern[str]:
    parts = _SEGMENT.split(template)  # literal, name, literal, name, ..., literal
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^{{}}/]+)" for i, part in enumerate(parts)
    )
    return re.compile(regex)


class Router(Generic[H]):
    """Static paths by one dict lookup, templated ones by their patterns in order."""

    def __init__(self, routes: Iterable[Route[H]]) -> None:
        self._static: dict[str, dict[str, Route[H]]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Route[H]]]] = []
        by_template: dict[str, dict[str, Route[H]]] = {}
        for route in routes:
            methods = by_template.get(route.template)
            if methods is None:
                methods = by_template[route.template] = {}
                if _SEGMENT.search(route.template):
                    self._dynamic.append((_pattern(route.template), methods))
                else:
                    self._static[route.template] = methods
            if route.method in methods:
                raise ValueError(f"two routes for {route.method} {route.template}")
            methods[route.method] = route

    def resolve(self, method: str, path: str) -> tuple[Route[H], Mapping[str, str]]:
        """The route for ``method`` and ``path`` (``Request.path``) and its values.

        Raises ``NoRoute``: 404, or 405 with the methods allowed, as aiohttp's router
        answered."""
        methods = self._static.get(path)
        params = _NO_PARAMS
        if methods is None:
            for pattern, candidates in self._dynamic:
                match = pattern.fullmatch(path)
                if match is not None:
                    methods = candidates
                    params = {k: _unquote(v) for k, v in match.groupdict().items()}
                    break
            else:
                raise NoRoute(404)
        route = methods.get("GET" if method == "HEAD" else method)
        if route is None:
            allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())
            raise NoRoute(405, frozenset(allowed))
        return route, params
