"""``docs/cli.md``, generated from the argparse parser so the reference cannot drift.

``python -m asyncaction_cli.reference write docs/cli.md`` (``make cli-docs``) writes it;
``check`` exits 1 when the file differs (a unit test does the same).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asyncaction_cli.outcomes import EXIT_CODES
from asyncaction_cli.parser import PROG, build_parser

INTRO = (
    f"""\
# `{PROG}` command reference

Generated from the parser by `make cli-docs`; do not edit (a test fails when it drifts).
A quick start is in the [README](../README.md#the-asyncaction-cli); the Python client
is described in [client.md](client.md).

`{PROG}` is also installed as `kubectl-{PROG}`, so `kubectl {PROG} COMMAND ...` runs it
as a kubectl plugin. It reads kubeconfig files as kubectl does (`--kubeconfig`,
`$KUBECONFIG`, `~/.kube/config`, in-cluster service accounts), with contexts, exec
credential plugins (EKS, GKE, AKS) and OIDC, through the `kubernetes` Python client.
A kubeconfig that cannot work (no file at all, a missing or empty file, invalid YAML, a
context, cluster, user or credential plugin it lacks, a server that is not a URL) is
refused before any request, naming the file, the setting that chose it and the problem.

Data (tables, `-o json|yaml|name|result`) goes to stdout; messages, the progress bar and
errors (one line, `error: ...`) go to stderr. The live `watch` table and the progress bar
of `wait` are drawn only when stdout and stderr are terminals.

## Exit codes

| code | meaning |
|---|---|
"""
    + "".join(f"| {code} | {meaning} |\n" for code, meaning in EXIT_CODES.items())
    + """
`wait` with several names waits for all of them within one `--timeout` and exits with
the code of the first (in the order given) that did not succeed, a wait that ran out of
time counting as 6 in its place; every action that finished before the deadline is
reported, whichever order they finished in.

As kubectl: `list -o json|yaml` always prints a `List` with `items` (so
`jq '.items[]'` works however many matched); `get NAME -o json|yaml` prints the object
itself, and a `List` for several names.
"""
)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    parser = build_parser()
    sections = [INTRO, "\n## Usage\n\n```text\n" + parser.format_help() + "```\n"]
    for name, command in _subparsers(parser).items():
        children = _subparsers(command)
        sections.append(f"\n## {PROG} {name}\n\n```text\n{command.format_help()}```\n")
        for child_name, child in children.items():
            sections.append(
                f"\n### {PROG} {name} {child_name}\n\n```text\n{child.format_help()}```\n"
            )
    return "".join(sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncaction_cli.reference")
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    wanted = render()
    if args.command == "write":
        args.path.write_text(wanted)
        print(f"wrote {args.path}")
        return 0
    current = args.path.read_text() if args.path.exists() else ""
    if current != wanted:
        print(f"{args.path} drifted from the parser: run `make cli-docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
