"""Mutation testing of the pure modules, one module at a time (``make mutation``).

mutmut mutates a package laid out flat beside its tests and makes the mutated tree win on
``sys.path``; our packages live under source roots (``operator/``, ``jobhook/``, ``client/``)
and are installed editable. So each module runs in a scratch copy,
``.mutation/<module>/``: the packages copied flat, ``tests/`` and ``pyproject.toml`` with
a ``[tool.mutmut]`` table that mutates that one module and selects its own unit tests.
A run always starts from fresh mutants: mutmut's cache keeps old verdicts when only the
tests changed, which would hide the effect of a new test.

The modules, their tests and their thresholds live in ``tests/mutation.toml``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from asyncaction_testbed.mutation.mutants import Mutant, read_mutants

SOURCE_ROOTS = ("operator", "jobhook", "client")
CONFIG = Path("tests/mutation.toml")
SCRATCH = Path(".mutation")


class MutationConfigError(Exception):
    """tests/mutation.toml is malformed; the message names the entry."""


@dataclass(frozen=True)
class ModuleSpec:
    """One module to mutate, the unit tests that are its own, and the score it must reach."""

    path: str
    tests: tuple[str, ...]
    threshold: float

    @property
    def slug(self) -> str:
        return self.package_path.removesuffix(".py").replace("/", ".")

    @property
    def package_path(self) -> str:
        """Its path in the flat copy (``operator/asyncaction/keys.py``: ``asyncaction/keys.py``)."""
        root, _, rest = self.path.partition("/")
        if root not in SOURCE_ROOTS or not rest.endswith(".py"):
            raise MutationConfigError(
                f"module.path {self.path!r}: not a .py file under {SOURCE_ROOTS}"
            )
        return rest


@dataclass
class Score:
    """What the tests made of one module's mutants."""

    spec: ModuleSpec
    mutants: list[Mutant] = field(default_factory=list)

    @property
    def behaviour(self) -> list[Mutant]:
        return [m for m in self.mutants if not m.message_only and m.status != "skipped"]

    @property
    def killed(self) -> int:
        return sum(m.status == "killed" for m in self.behaviour)

    @property
    def survivors(self) -> list[Mutant]:
        return [m for m in self.behaviour if m.status != "killed"]

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / len(self.behaviour) if self.behaviour else 100.0

    @property
    def passed(self) -> bool:
        return self.percent >= self.spec.threshold


def load_specs(repo: Path) -> list[ModuleSpec]:
    """The modules of tests/mutation.toml (their test files are checked when they run)."""
    data = tomllib.loads((repo / CONFIG).read_text("utf-8"))
    default = float(data.get("defaults", {}).get("threshold", 90.0))
    specs = []
    for entry in data.get("module", []):
        path, tests = entry.get("path"), entry.get("tests")
        if not isinstance(path, str) or not isinstance(tests, list) or not tests:
            raise MutationConfigError(
                f"{CONFIG}: every [[module]] needs a path and a list of tests"
            )
        if not (repo / path).is_file():
            raise MutationConfigError(f"{CONFIG}: module.path {path}: no such file")
        spec = ModuleSpec(path, tuple(tests), float(entry.get("threshold", default)))
        _ = spec.package_path  # validated early, with the entry's name
        specs.append(spec)
    return specs


def _mutmut_table(spec: ModuleSpec, packages: list[str]) -> str:
    """The [tool.mutmut] table for one module (TOML strings written as JSON strings)."""

    def strings(values: list[str] | tuple[str, ...]) -> str:
        return "[" + ", ".join(json.dumps(v) for v in values) + "]"

    return (
        "\n[tool.mutmut]\n"
        f"source_paths = {strings(packages)}\n"
        f"only_mutate = {strings([spec.package_path])}\n"
        f"pytest_add_cli_args_test_selection = {strings(spec.tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
        "use_git_change_detection = false\n"
    )


def prepare(repo: Path, spec: ModuleSpec) -> Path:
    """A fresh scratch copy in which mutmut mutates ``spec`` alone."""
    for test in spec.tests:
        if not (repo / test).is_file():
            raise MutationConfigError(f"{CONFIG}: module {spec.path}: no test file {test}")
    work = repo / SCRATCH / spec.slug
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    packages = []
    for root in SOURCE_ROOTS:
        for package in sorted((repo / root).iterdir()):
            if (package / "__init__.py").is_file():
                shutil.copytree(package, work / package.name, ignore=ignore)
                packages.append(package.name)
    shutil.copytree(repo / "tests", work / "tests", ignore=ignore)
    pyproject = (repo / "pyproject.toml").read_text("utf-8")
    if "[tool.mutmut]" in pyproject:
        raise MutationConfigError(
            "pyproject.toml has a [tool.mutmut] table: keep it in tests/mutation.toml"
        )
    (work / "pyproject.toml").write_text(pyproject + _mutmut_table(spec, packages), "utf-8")
    return work


def run_module(repo: Path, spec: ModuleSpec, jobs: int) -> Score:
    """Mutate one module, run its tests against every mutant, and read the verdicts."""
    work = prepare(repo, spec)
    mutmut = Path(sys.executable).with_name("mutmut")
    log = work / "mutmut.log"
    with log.open("w") as out:
        done = subprocess.run(
            [str(mutmut), "run", "--max-children", str(jobs)],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    relative = Path(spec.package_path)
    if done.returncode != 0 or not (work / "mutants" / f"{relative}.meta").is_file():
        tail = "\n".join(log.read_text("utf-8", "replace").splitlines()[-30:])
        raise RuntimeError(f"mutmut failed on {spec.path} (exit {done.returncode}); {log}:\n{tail}")
    return Score(spec, read_mutants(work / "mutants", relative))


def report(score: Score, *, show_messages: bool) -> str:
    """One module's line, then its surviving behaviour mutants with their diffs."""
    counts = f"{score.killed}/{len(score.behaviour)} behaviour mutants killed"
    messages = sum(m.message_only for m in score.mutants)
    verdict = "ok" if score.passed else f"UNDER {score.spec.threshold:.0f} %"
    lines = [
        f"{score.spec.path}: {score.percent:.1f} % ({counts}; "
        f"{len(score.mutants)} mutants, {messages} message-only) {verdict}"
    ]
    for mutant in score.survivors:
        lines += [f"  {mutant.status}: {mutant.key}", _indent(mutant.diff)]
    if show_messages:
        for mutant in score.mutants:
            if mutant.message_only and mutant.status != "killed":
                lines += [f"  message-only, {mutant.status}: {mutant.key}", _indent(mutant.diff)]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def summary_table(scores: list[Score]) -> str:
    rows = ["| module | mutants | message-only | behaviour | killed | score | threshold |"]
    rows.append("|---|---|---|---|---|---|---|")
    for s in scores:
        messages = sum(m.message_only for m in s.mutants)
        rows.append(
            f"| {s.spec.path} | {len(s.mutants)} | {messages} | {len(s.behaviour)} | "
            f"{s.killed} | {s.percent:.1f} % | {s.spec.threshold:.0f} % |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.split("\n")[0])
    parser.add_argument(
        "modules", nargs="*", help="substrings of module paths to run (default: every module)"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="mutants tested at once"
    )
    parser.add_argument(
        "--show-messages", action="store_true", help="list surviving message-only mutants too"
    )
    parser.add_argument("--list", action="store_true", help="list the configured modules and stop")
    args = parser.parse_args(argv)
    repo = Path.cwd()
    try:
        specs = load_specs(repo)
    except MutationConfigError as exc:
        print(f"mutation: {exc}", file=sys.stderr)
        return 2
    chosen = [s for s in specs if not args.modules or any(m in s.path for m in args.modules)]
    if args.list or not chosen:
        for spec in specs:
            print(f"{spec.path} ({spec.threshold:.0f} %): {' '.join(spec.tests)}")
        return 0 if chosen else 2
    scores = []
    for spec in chosen:
        print(f"mutation: {spec.path} against {' '.join(spec.tests)}", flush=True)
        try:
            score = run_module(repo, spec, args.jobs)
        except MutationConfigError as exc:
            print(f"mutation: {exc}", file=sys.stderr)
            return 2
        print(report(score, show_messages=args.show_messages), flush=True)
        scores.append(score)
    print()
    print(summary_table(scores))
    (repo / SCRATCH / "scores.json").write_text(
        json.dumps(
            {
                s.spec.path: {
                    "score": round(s.percent, 1),
                    "killed": s.killed,
                    "behaviour": len(s.behaviour),
                    "mutants": len(s.mutants),
                }
                for s in scores
            },
            indent=2,
        ),
        "utf-8",
    )
    failed = [s.spec.path for s in scores if not s.passed]
    if failed:
        print(f"mutation: under the threshold: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
