"""Read mutmut's results for one module and sort its mutants into behaviour and message ones.

mutmut (3.x) writes every mutant of a function into ``mutants/<path>`` as a sibling
function (``x_f__mutmut_orig`` is the original, ``x_f__mutmut_N`` the mutants; methods are
``xǁClassǁf__mutmut_N``) and its verdicts into ``mutants/<path>.meta`` (JSON,
``exit_code_by_key``). Diffing the two functions' syntax trees tells what a mutant changed.

A *message mutant* changes nothing but prose meant for a person, so no test should pin it
(wording is free to change) and the score leaves it out. It is one whose every change lies

- inside the arguments of a logging call (``log.info(...)``, ``logger.exception(...)``), or
- in the text of a string literal containing whitespace (prose, not an identifier, a code
  or a reason such as ``"UNAUTHORIZED"`` or ``"BackoffLimitExceeded"``) that is part of a
  ``raise`` statement, or the value of a keyword argument, a variable or a dict key named
  as human text (``message``, ``detail``, ``why``, ``note``, ``msg``), or
- an exception's prose message (literal or f-string) replaced by ``None``: the same
  exception is raised.

Dropping a ``message=``/``detail=`` argument, or replacing it with ``None``, is *not* a
message mutant: it changes the shape of what is written (a status without its message),
and tests must see it.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import unified_diff
from pathlib import Path

# mutmut's exit codes (mutmut.stats.status_by_exit_code) folded into what the score needs.
KILLED_CODES = frozenset({1, 3, 36, 37, -24, 24, 152, 255, -11, -9})
SURVIVED_CODES = frozenset({0})
NO_TESTS_CODES = frozenset({5, 33})
SKIPPED_CODES = frozenset({34})

LOGGER_NAMES = frozenset({"log", "logger", "_log", "_logger", "LOG", "logging"})
LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)
MESSAGE_NAMES = frozenset({"message", "detail", "why", "note", "msg"})


@dataclass(frozen=True)
class Mutant:
    """One mutant: its mutmut key, what became of it, and the change it makes."""

    key: str
    status: str  # killed | survived | no tests | skipped | not checked | suspicious
    message_only: bool
    diff: str


def status_of(exit_code: int | None) -> str:
    """mutmut's exit code as one of the statuses the report counts."""
    if exit_code is None:
        return "not checked"
    if exit_code in KILLED_CODES:
        return "killed"
    if exit_code in SURVIVED_CODES:
        return "survived"
    if exit_code in NO_TESTS_CODES:
        return "no tests"
    if exit_code in SKIPPED_CODES:
        return "skipped"
    return "suspicious"


def _is_log_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in LOG_METHODS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in LOGGER_NAMES
    )


def _names_human_text(parent: ast.AST, child: ast.AST) -> bool:
    """Whether ``child``, a direct part of ``parent``, is a slot that holds prose."""
    if isinstance(parent, ast.keyword):
        return parent.arg in MESSAGE_NAMES
    if isinstance(parent, ast.Assign | ast.AnnAssign) and child is parent.value:
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        return any(isinstance(t, ast.Name) and t.id in MESSAGE_NAMES for t in targets)
    if isinstance(parent, ast.Dict) and child in parent.values:
        key = parent.keys[parent.values.index(child)]
        return isinstance(key, ast.Constant) and key.value in MESSAGE_NAMES
    return False


@dataclass(frozen=True)
class Change:
    """Where two trees differ: the original node's ancestors (outermost first) and the pair."""

    ancestors: tuple[ast.AST, ...]
    original: ast.AST | None
    mutated: ast.AST | None


def changes(original: ast.AST, mutated: ast.AST) -> Iterator[Change]:
    """The smallest differing nodes of two trees of the same function."""
    yield from _changes(original, mutated, ())


def _changes(a: ast.AST, b: ast.AST, ancestors: tuple[ast.AST, ...]) -> Iterator[Change]:
    if type(a) is not type(b):
        yield Change(ancestors, a, b)
        return
    for field in a._fields:
        if field in ("name", "ctx", "type_comment"):
            continue
        x, y = getattr(a, field, None), getattr(b, field, None)
        if isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):  # an argument dropped: the change is the whole node
                yield Change(ancestors, a, b)
                return
            for u, v in zip(x, y, strict=True):
                if isinstance(u, ast.AST) and isinstance(v, ast.AST):
                    yield from _changes(u, v, (*ancestors, a))
                elif u != v:
                    yield Change(ancestors, a, b)
                    return
        elif isinstance(x, ast.AST) and isinstance(y, ast.AST):
            yield from _changes(x, y, (*ancestors, a))
        elif isinstance(x, ast.AST) or isinstance(y, ast.AST) or x != y:
            yield Change(ancestors, a, b)
            return


def is_message_change(change: Change) -> bool:
    """Whether one change only edits prose (see the module's docstring)."""
    path = (*change.ancestors, change.original)
    for i, node in enumerate(path):
        if node is not None and _is_log_call(node) and i + 1 < len(path):
            assert isinstance(node, ast.Call)
            if path[i + 1] is not node.func:
                return True
    original, mutated = change.original, change.mutated
    if (  # an argument of a log call dropped
        original is not None
        and _is_log_call(original)
        and isinstance(original, ast.Call)
        and isinstance(mutated, ast.Call)
        and ast.dump(original.func) == ast.dump(mutated.func)
    ):
        return True
    if original is None or not _is_prose(original):
        return False
    slot = _slot(change.ancestors, original)
    if isinstance(mutated, ast.Constant) and isinstance(mutated.value, str):
        return slot is not None
    # An exception's message replaced by None: the same exception is still raised.
    return isinstance(mutated, ast.Constant) and mutated.value is None and slot == "raise"


def _is_prose(node: ast.AST) -> bool:
    """A string literal (or f-string) with whitespace in its text: words, not a code."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and any(c.isspace() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_is_prose(part) for part in node.values)
    return False


def _slot(ancestors: tuple[ast.AST, ...], literal: ast.AST) -> str | None:
    """Walk outwards through the expression that holds the literal (an `or` default, a call
    such as unauthorized("..."), an f-string) to the slot that gives it meaning: "raise",
    "text" (a slot named as human text), or None."""
    child = literal
    for parent in reversed(ancestors):
        if isinstance(parent, ast.Raise):
            return "raise"
        if _names_human_text(parent, child):
            return "text"
        if isinstance(parent, ast.stmt):
            return None
        child = parent
    return None


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name
    }


def _source(lines: list[str], node: ast.AST) -> list[str]:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])  # type: ignore[attr-defined]
    return lines[start - 1 : node.end_lineno]  # type: ignore[attr-defined]


def read_mutants(mutants_dir: Path, relative: Path) -> list[Mutant]:
    """Every mutant mutmut made of ``relative`` (a path inside the mutated tree)."""
    meta = json.loads((mutants_dir / f"{relative}.meta").read_text("utf-8"))
    text = (mutants_dir / relative).read_text("utf-8")
    lines = text.splitlines()
    functions = _functions(ast.parse(text))
    result = []
    for key, exit_code in sorted(meta["exit_code_by_key"].items(), key=lambda kv: _order(kv[0])):
        mangled = key.rsplit(".", 1)[1]
        mutant = functions[mangled]
        original = functions[mangled.partition("__mutmut_")[0] + "__mutmut_orig"]
        found = _differences(original, mutant)
        message_only = bool(found) and all(is_message_change(c) for c in found)
        before = [
            line.replace(original.name, _plain(original.name)) for line in _source(lines, original)
        ]
        after = [
            line.replace(mutant.name, _plain(original.name)) for line in _source(lines, mutant)
        ]
        diff = "\n".join(
            unified_diff(before, after, str(relative), str(relative), n=1, lineterm="")
        )
        result.append(Mutant(key, status_of(exit_code), message_only, diff))
    return result


def _order(key: str) -> tuple[str, int]:
    stem, _, number = key.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else -1


def _plain(generated: str) -> str:
    """``xǁQueueǁadd__mutmut_orig`` → ``add``; ``x_build__mutmut_orig`` → ``build``."""
    stem = generated.partition("__mutmut_")[0]
    return stem.rpartition("ǁ")[2] if "ǁ" in stem else stem.removeprefix("x_")


def _differences(
    original: ast.FunctionDef | ast.AsyncFunctionDef, mutant: ast.FunctionDef | ast.AsyncFunctionDef
) -> list[Change]:
    """What a mutant changed in a function: its body or its arguments' defaults (the
    generated names differ by construction and are left out)."""
    bodies = changes(
        ast.Module(body=original.body, type_ignores=[]),
        ast.Module(body=mutant.body, type_ignores=[]),
    )
    return [*bodies, *changes(original.args, mutant.args)]
