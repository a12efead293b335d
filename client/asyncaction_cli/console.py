"""What the CLI prints: data on stdout, messages on stderr, tables and documents in the
``-o`` formats, and the live progress of a wait for a person at a terminal."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from asyncaction_cli import render
from asyncaction_cli.outcomes import Outcome, exit_code_for
from asyncaction_cli.waiting import ReasonChanges
from asyncaction_client.contract import Phase, utcnow
from asyncaction_client.errors import ActionNotFound, WaitTimeout
from asyncaction_client.model import Action
from asyncaction_client.sync import Client


@dataclass
class Output:
    """Where data and messages go; tests hand in buffers."""

    out: TextIO
    err: TextIO

    def data(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def say(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    @property
    def live(self) -> bool:
        """Live drawing (watch table, progress bar) only for a person at a terminal."""
        return self.out.isatty() and self.err.isatty()

    def width(self) -> int:
        return shutil.get_terminal_size((100, 24)).columns


def print_actions(
    io: Output,
    actions: Sequence[Action],
    fmt: str,
    *,
    namespaces: bool = False,
    listing: bool = False,
) -> None:
    """``actions`` in format ``fmt``. As kubectl: json and yaml print one object bare when
    one was asked for by name, else a ``List`` with ``items``; ``listing`` (the list
    command) always prints a List, so ``jq '.items[]'`` works whatever matched."""
    if fmt in ("table", "wide"):
        if not actions:
            io.say("No actions found.")
            return
        io.data(render.actions_table(actions, utcnow(), wide=fmt == "wide", namespaces=namespaces))
    elif fmt in ("json", "yaml"):
        document: Mapping[str, Any] = (
            actions[0]
            if len(actions) == 1 and not listing
            else {"apiVersion": "v1", "kind": "List", "items": list(actions)}
        )
        io.data(render.as_json(document) if fmt == "json" else render.as_yaml([document]))
    elif fmt == "name":
        io.data("".join(render.resource_name(a) + "\n" for a in actions))
    elif fmt == "result":
        for action in actions:
            if (action.get("status") or {}).get("phase") == Phase.SUCCEEDED.value:
                io.data(
                    json.dumps((action.get("status") or {}).get("result") or {}, sort_keys=True)
                    + "\n"
                )


class ProgressBar:
    """One line on stderr, redrawn in place, for a person at a terminal."""

    def __init__(self, io: Output) -> None:
        self.io = io
        self.drawn = False

    def update(self, action: Action) -> None:
        line = render.progress_line(action, self.io.width())
        self.io.err.write("\r\x1b[K" + line)
        self.io.err.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            self.io.err.write("\n")
            self.io.err.flush()
            self.drawn = False


def wait_for(
    io: Output, client: Client, targets: Sequence[tuple[str, str]], timeout: float | None
) -> list[Outcome]:
    """Wait for each (namespace, name) in turn within one shared deadline; each outcome,
    or the WaitTimeout of one still running at the deadline, in the order asked. An action
    that finished before the deadline is reported even when waiting for the ones before
    it used up the time (its wait then only reads it)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    outcomes: list[Outcome] = []
    reasons = ReasonChanges()  # why each waits, printed once per change
    for namespace, name in targets:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        bar = ProgressBar(io) if io.live else None

        def update(action: Action, bar: ProgressBar | None = bar) -> None:
            line = reasons.line(action)
            if line is not None:
                if bar:
                    bar.done()
                io.say(line)
            if bar:
                bar.update(action)

        try:
            action = client.wait_finished(name, namespace, timeout=remaining, on_update=update)
        except WaitTimeout as exc:
            if bar:
                bar.done()
            timed_out = WaitTimeout(name, timeout or 0.0, exc.action)
            io.say(f"error: {timed_out}")
            outcomes.append(timed_out)
            continue
        except ActionNotFound as exc:  # the others are still waited for and reported
            if bar:
                bar.done()
            io.say(f"error: {exc}")
            outcomes.append(exc)
            continue
        if bar:
            bar.done()
        io.say(render.outcome_line(action))
        outcomes.append(action)
    return outcomes


def print_outcomes(io: Output, outcomes: Sequence[Outcome], fmt: str) -> int:
    """The actions that finished, in ``fmt``, and the exit code of all outcomes. When none
    finished, nothing is printed: each timeout already said so on stderr."""
    finished = finished_only(outcomes)
    if finished:
        print_actions(io, finished, fmt)
    return exit_code_for(outcomes)


def finished_only(outcomes: Sequence[Outcome]) -> list[Action]:
    return [o for o in outcomes if not isinstance(o, (WaitTimeout, ActionNotFound))]
