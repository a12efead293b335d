"""A request's body as the routes read it: ``read()`` waits for it, ``body()`` (the
authentication's path when a report arrived in one packet) takes it as it is, and both
refuse the same bodies."""

from __future__ import annotations

import asyncio

import pytest

from asyncaction_hook.httpmessages import BadBody, BodyTooLarge, Headers, Request


def request() -> Request:
    return Request(None, "POST", "/status", "/status", "1.1", Headers({}), True)


@pytest.mark.asyncio
async def test_body_is_read_without_waiting_once_it_has_all_arrived() -> None:
    waiting = request()
    waiting._add(b'{"progress":', 100)
    with pytest.raises(RuntimeError, match="await read"):
        waiting.body()  # half a body is never handed out
    reader = asyncio.ensure_future(waiting.read())
    await asyncio.sleep(0)
    assert not reader.done()
    waiting._add(b" 5}", 100)
    waiting._end()
    assert await reader == b'{"progress": 5}'
    assert waiting.body() == b'{"progress": 5}'


@pytest.mark.asyncio
async def test_body_and_read_refuse_the_same_bodies() -> None:
    too_large, broken, lost = request(), request(), request()
    too_large._add(b"x" * 101, 100)
    broken._lose("bad chunk size")
    lost._add(b"{", 100)
    lost._lose()
    for refused, error in ((too_large, BodyTooLarge), (broken, BadBody), (lost, ConnectionError)):
        with pytest.raises(error):
            refused.body()
        with pytest.raises(error):
            await refused.read()
