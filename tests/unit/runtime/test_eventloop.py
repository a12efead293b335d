"""The event loop the hook serves on: uvloop by default, asyncio on request, loud when
uvloop is asked for and missing."""

from __future__ import annotations

import asyncio
import sys
import warnings
from pathlib import Path

import pytest
import uvloop

from asyncaction.runtime import eventloop
from asyncaction_hook.main import EVENT_LOOP_ENV, parse_args


async def _loop_kind() -> type[asyncio.AbstractEventLoop]:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_run_serves_on_the_loop_asked_for_and_returns_its_result() -> None:
    assert eventloop.run(_loop_kind(), "uvloop", "--event-loop") is uvloop.Loop
    kind = eventloop.run(_loop_kind(), "asyncio", "--event-loop")
    assert not issubclass(kind, uvloop.Loop)
    assert issubclass(kind, asyncio.BaseEventLoop)


def test_uvloop_missing_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    with pytest.raises(eventloop.EventLoopUnavailable) as refused:
        eventloop.loop_factory("uvloop", "--event-loop")
    message = str(refused.value)
    assert message.startswith("--event-loop uvloop: uvloop is not installed")
    assert message.endswith("or set --event-loop asyncio")
    # asyncio needs nothing
    assert eventloop.loop_factory("asyncio", "--event-loop") is asyncio.new_event_loop
    # the coroutine that never ran is closed, not left to warn on top of the error
    coroutine = _loop_kind()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(eventloop.EventLoopUnavailable):
            eventloop.run(coroutine, "uvloop", "--event-loop")
    assert coroutine.cr_frame is None  # closed


def test_an_unknown_loop_name_is_refused_naming_the_choices() -> None:
    with pytest.raises(eventloop.EventLoopUnavailable) as refused:
        eventloop.loop_factory("trio", "EVENT_LOOP")  # type: ignore[arg-type]
    assert str(refused.value) == "EVENT_LOOP must be one of uvloop, asyncio, not 'trio'"


def test_the_hook_defaults_to_uvloop_and_takes_the_flag_or_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--master-keys-file", str(tmp_path / "keys")]
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert parse_args(base).event_loop == "uvloop"
    assert parse_args([*base, "--event-loop", "asyncio"]).event_loop == "asyncio"
    monkeypatch.setenv(EVENT_LOOP_ENV, "asyncio")
    assert parse_args(base).event_loop == "asyncio"
    assert parse_args([*base, "--event-loop", "uvloop"]).event_loop == "uvloop"
    with pytest.raises(SystemExit):
        parse_args([*base, "--event-loop", "trio"])
    assert "--event-loop: invalid choice: 'trio'" in capsys.readouterr().err
    monkeypatch.setenv(EVENT_LOOP_ENV, "trio")
    with pytest.raises(SystemExit):
        parse_args(base)
    assert f"{EVENT_LOOP_ENV} must be one of uvloop, asyncio, not 'trio'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(SystemExit) as stopped:
        parse_args([*base, "--event-loop", "uvloop"])
    assert stopped.value.code == 2
    assert "--event-loop uvloop: uvloop is not installed" in capsys.readouterr().err
