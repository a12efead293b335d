"""The mutation runner's parts that decide a score: which mutants are message-only, and
how mutmut's verdicts are read (``make mutation``, docs/testing.md)."""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

import pytest

from asyncaction_testbed.mutation import run
from asyncaction_testbed.mutation.mutants import changes, is_message_change, read_mutants

REPO = Path(__file__).resolve().parents[3]


def message_only(original: str, mutated: str) -> bool:
    found = list(changes(ast.parse(original), ast.parse(mutated)))
    assert found, "the two sources must differ"
    return all(is_message_change(c) for c in found)


@pytest.mark.parametrize(
    ("original", "mutated"),
    [
        # prose of an exception, a log line, a human-text slot
        ('raise ValueError("no master key")', 'raise ValueError("XXno master keyXX")'),
        ('raise ValueError("no master key")', "raise ValueError(None)"),
        ('raise ValueError(f"bad {x} here")', "raise ValueError(None)"),
        (
            'raise HookError(401, "BAD", "X is required")',
            'raise HookError(401, "BAD", "x is required")',
        ),
        ('raise unauthorized("bad signature")', 'raise unauthorized("BAD SIGNATURE")'),
        ('log.info("%s done", key)', "log.info(None, key)"),
        ('log.exception("%s failed", key)', 'log.exception("%s failed")'),
        ('patch(message="waiting for admission")', 'patch(message="WAITING FOR ADMISSION")'),
        (
            'f(detail=job.message or "the job failed")',
            'f(detail=job.message or "XXthe job failedXX")',
        ),
        ('why = reason or "no reason given"', 'why = reason or "NO REASON GIVEN"'),
        (
            'x = {"reason": r, "message": "it broke down"}',
            'x = {"reason": r, "message": "IT BROKE DOWN"}',
        ),
    ],
)
def test_prose_changes_are_message_only(original: str, mutated: str) -> None:
    assert message_only(original, mutated)


@pytest.mark.parametrize(
    ("original", "mutated"),
    [
        # codes, reasons, keys and shapes are behaviour
        (
            'raise HookError(401, "UNAUTHORIZED", "m x")',
            'raise HookError(401, "XXUNAUTHORIZEDXX", "m x")',
        ),
        (
            'raise HookError(401, "UNAUTHORIZED", "m x")',
            'raise HookError(402, "UNAUTHORIZED", "m x")',
        ),
        ('raise ValueError("no key")', 'raise TypeError("no key")'),
        ('patch(message="waiting for admission")', "patch(message=None)"),
        ('patch(reason="Back off", message="m")', 'patch(reason="BACK OFF", message="m")'),
        (
            'canonical = f"{a} {b}"; s = " ".join(parts)',
            'canonical = f"{a} {b}"; s = "XX XX".join(parts)',
        ),
        ('x = {"reason": "it broke down"}', 'x = {"reason": "IT BROKE DOWN"}'),
        (
            'if n > 3:\n    raise ValueError("too many")',
            'if n >= 3:\n    raise ValueError("too many")',
        ),
        ('log.info("%s done", key)', 'logx.info("%s done", key)'),
    ],
)
def test_behaviour_changes_are_not_message_only(original: str, mutated: str) -> None:
    assert not message_only(original, mutated)


def test_read_mutants_pairs_each_mutant_with_its_original_and_verdict(tmp_path: Path) -> None:
    """The layout mutmut 3 writes: sibling functions in mutants/<path>, verdicts in .meta."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(
        "def x_f__mutmut_orig(n):\n    if n > 1:\n        raise ValueError('too big')\n"
        "def x_f__mutmut_1(n):\n    if n >= 1:\n        raise ValueError('too big')\n"
        "def x_f__mutmut_2(n):\n    if n > 1:\n        raise ValueError('TOO BIG')\n"
        "class Q:\n"
        "    def xǁQǁadd__mutmut_orig(self):\n        return 1\n"
        "    def xǁQǁadd__mutmut_1(self):\n        return 2\n"
    )
    verdicts = {
        "pkg.mod.x_f__mutmut_1": 0,
        "pkg.mod.x_f__mutmut_2": 0,
        "pkg.mod.xǁQǁadd__mutmut_1": 1,
    }
    (tmp_path / "pkg" / "mod.py.meta").write_text(json.dumps({"exit_code_by_key": verdicts}))

    mutants = read_mutants(tmp_path, Path("pkg/mod.py"))

    assert [(m.key, m.status, m.message_only) for m in mutants] == [
        ("pkg.mod.x_f__mutmut_1", "survived", False),
        ("pkg.mod.x_f__mutmut_2", "survived", True),
        ("pkg.mod.xǁQǁadd__mutmut_1", "killed", False),
    ]
    assert "-    if n > 1:\n+    if n >= 1:" in mutants[0].diff
    assert "def f(n):" in mutants[0].diff
    assert "__mutmut" not in mutants[0].diff


def test_the_score_counts_behaviour_mutants_only_and_no_tests_as_survivors() -> None:
    spec = run.ModuleSpec("operator/asyncaction/keys.py", ("t.py",), 75.0)
    score = run.Score(spec, [])
    from asyncaction_testbed.mutation.mutants import Mutant

    score.mutants = [
        Mutant("a", "killed", False, ""),
        Mutant("b", "killed", False, ""),
        Mutant("c", "killed", False, ""),
        Mutant("d", "no tests", False, ""),
        Mutant("e", "survived", True, ""),
        Mutant("f", "skipped", False, ""),
    ]
    assert (score.killed, len(score.behaviour), score.percent) == (3, 4, 75.0)
    assert score.passed
    assert [m.key for m in score.survivors] == ["d"]


def test_every_configured_module_and_test_exists_and_the_mutmut_table_parses() -> None:
    specs = run.load_specs(REPO)
    assert specs, "tests/mutation.toml lists no module"
    for spec in specs:
        assert all((REPO / t).is_file() for t in spec.tests), spec
        assert 0 < spec.threshold <= 100
        table = tomllib.loads(run._mutmut_table(spec, ["asyncaction"]))["tool"]["mutmut"]
        assert table["only_mutate"] == [spec.package_path]
        assert table["pytest_add_cli_args_test_selection"] == list(spec.tests)
    assert len({s.path for s in specs}) == len(specs)


def test_a_module_outside_the_source_roots_is_refused_with_its_name() -> None:
    with pytest.raises(run.MutationConfigError, match=r"tests/x\.py"):
        _ = run.ModuleSpec("tests/x.py", ("t",), 90).package_path
