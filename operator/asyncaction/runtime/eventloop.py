"""Which event loop a process runs on: uvloop where it is installed, asyncio's otherwise.

The job hook is one event loop serving every job of its shard, CPU-bound at load
(``docs/performance.md``): counted with callgrind, uvloop runs the same signed report
in 7.6 % fewer instructions than asyncio's loop (aiohttp's part alone: 15 % fewer),
with the same answers. It is a dependency of the project on the platforms it supports;
``asyncio`` stays selectable (``--event-loop asyncio``) to rule the loop out when
something looks wrong, and asking for uvloop where it is missing fails at start,
naming the flag, instead of silently running slower.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

EventLoopName = Literal["uvloop", "asyncio"]
EVENT_LOOPS: tuple[EventLoopName, ...] = ("uvloop", "asyncio")
T = TypeVar("T")


class EventLoopUnavailable(RuntimeError):
    """The event loop a setting asks for cannot be used here; the message names it."""


def loop_factory(name: EventLoopName, setting: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new loop of kind ``name``; ``setting`` is named when it cannot."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise EventLoopUnavailable(
                f"{setting} uvloop: uvloop is not installed ({exc}); install it "
                f"(pip install uvloop) or set {setting} asyncio"
            ) from None
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    raise EventLoopUnavailable(f"{setting} must be one of {', '.join(EVENT_LOOPS)}, not {name!r}")


def run(main: Coroutine[Any, Any, T], name: EventLoopName, setting: str) -> T:
    """``asyncio.run(main)`` on a loop of kind ``name``."""
    try:
        factory = loop_factory(name, setting)
    except EventLoopUnavailable:
        main.close()  # never started: no "coroutine was never awaited" on top of the error
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
