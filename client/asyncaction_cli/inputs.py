"""What a command reads before it acts: the cluster connection (after the kubeconfig
check), durations named by their flag, JSON or YAML documents from stdin, a file or a
flag, and labels. Each refuses bad input in one line naming the flag or the file, before
any request, so a typo never leaves a submitted action behind."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from asyncaction_cli import kubeconfig
from asyncaction_cli.kubeconfig import one_line_yaml_error
from asyncaction_cli.outcomes import UsageError
from asyncaction_client.model import parse_duration
from asyncaction_client.sync import Client


def connect(args: argparse.Namespace) -> Client:
    """The client of the chosen kubeconfig context; a kubeconfig that cannot be used is
    refused first, in one line naming the file and the setting (``kubeconfig.check``)."""
    kubeconfig.check(args.kubeconfig, args.context)
    return Client(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)


def duration(text: str | None, flag: str) -> timedelta | None:
    """The duration a flag gives, or a UsageError naming the flag; checked before any
    request, so a typo never leaves a submitted action behind."""
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def seconds(text: str | None, flag: str = "--timeout") -> float | None:
    found = duration(text, flag)
    return None if found is None else found.total_seconds()


def source_name(source: str, flag: str) -> str:
    """What the messages call a document: ``stdin``, the file, or the flag it was given in."""
    if source == "-":
        return "stdin"
    return source[1:] if source.startswith("@") else flag


def read_document(source: str, flag: str) -> Any:
    """JSON or YAML from ``-`` (stdin), ``@FILE`` or the text itself (given in ``flag``);
    a UsageError of one line naming the file (or stdin, or the flag) otherwise."""
    name = source_name(source, flag)
    try:
        if source == "-":
            text = sys.stdin.read()
        elif source.startswith("@"):
            text = Path(source[1:]).read_text()
        else:
            text = source
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {name}: not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{name} is not valid YAML: {one_line_yaml_error(exc)}") from None


def labels_of(pairs: Sequence[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--label wants KEY=VALUE, got {pair!r}")
        labels[key] = value
    return labels
