"""The README's CLI quick start, command by command as the README writes it.

The commands are read from the first ``sh`` block of the README's "The `asyncaction`
CLI" section, so the test follows the README: each runs, in order, in one bash session
(``source`` and ``export`` carry over), from a fresh checkout directory whose ``.local/``
is the test's own (the entries of this checkout are linked into it, so `make up` builds
nothing new and a developer's own ``.local/`` is left alone). Where a command's comment
shows its output (``# {"steps": 10}``), the output must be exactly that. `make down`
runs at the end whatever happened. ``make up`` takes the machine's real node when it can
and says so; elsewhere the node agent runs the example's command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import EXISTING

pytestmark = [pytest.mark.realnode, pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SECTION = "## The `asyncaction` CLI"


def quick_start(readme: str) -> list[tuple[str, str]]:
    """(command, the output its comment shows or "") of the section's first sh block."""
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, f"no sh block under {SECTION}"
    steps = []
    for line in block.group(1).splitlines():
        command, _, comment = line.partition("  #")
        if command.strip():
            comment = comment.strip()
            shown = comment if comment.startswith(("{", "[")) else ""
            steps.append((command.strip(), shown))
    return steps


def test_the_quick_start_is_read_from_the_readme() -> None:
    steps = quick_start((ROOT / "README.md").read_text())
    commands = [command for command, _ in steps]
    assert commands[:3] == ["make up", "source .local/env", 'export PATH="$PWD/.venv/bin:$PATH"']
    assert "asyncaction submit -f examples/progress.yaml --wait" in commands
    assert ("asyncaction get progress -o result", '{"steps": 10}') in steps


def checkout_copy(target: Path) -> Path:
    """This checkout's entries linked into ``target``, without its ``.local/``."""
    target.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".local", ".git"):
            (target / entry.name).symlink_to(entry)
    return target


@pytest.mark.timeout(1800)  # make up on a cold machine builds and starts everything
def test_readme_cli_quick_start_runs_as_written(tmp_path: Path) -> None:
    if EXISTING:
        pytest.skip("ASYNCACTION_TEST_KUBECONFIG is set: the quick start brings up its own")
    stamp = ROOT / ".venv" / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        # make would reinstall the project from the linked copy: install it here first
        pytest.skip("run `make install` first: .venv is older than pyproject.toml")
    steps = quick_start((ROOT / "README.md").read_text())
    work = checkout_copy(tmp_path / "checkout")
    script = ["cd " + shlex.quote(str(work))]
    for number, (command, _) in enumerate(steps):
        script += [f"echo '@@start {number}'", f"{command} 2>&1", f'echo "@@end {number} $?"']
    script.append('echo "@@env $ASYNCACTION_NODE $ASYNCACTION_HOOK_URL"')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "AWS_"))}
    try:
        run = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            capture_output=True,
            text=True,
            timeout=1500,
            env=env,
            check=False,
        )
    finally:
        subprocess.run(["make", "down"], cwd=work, capture_output=True, timeout=600, check=False)
    outputs: dict[int, list[str]] = {}
    codes: dict[int, int] = {}
    current = None
    node = hook = ""
    for line in run.stdout.splitlines():
        if line.startswith("@@start "):
            current = int(line.split()[1])
            outputs[current] = []
        elif line.startswith("@@end "):
            _, ended, code = line.split()
            codes[int(ended)] = int(code)
            current = None
        elif line.startswith("@@env "):
            node, hook = [*line.split(), "", ""][1:3]
        elif current is not None:
            outputs[current].append(line)
    report = {steps[n][0]: (codes.get(n), outputs.get(n, [])[-15:]) for n in range(len(steps))}
    assert [codes.get(n) for n in range(len(steps))] == [0] * len(steps), report
    for number, (_command, shown) in enumerate(steps):
        if shown:
            assert json.loads(outputs[number][-1]) == json.loads(shown), report
    by_command = {command: outputs[n] for n, (command, _) in enumerate(steps)}
    assert any("progress SUCCEEDED" in line for line in by_command[steps[3][0]]), report
    assert any("SUCCEEDED" in line for line in by_command["asyncaction describe progress"])
    listed = by_command["kubectl asyncaction list --phase SUCCEEDED"]
    assert any(line.split()[:2] == ["progress", "SUCCEEDED"] for line in listed), listed
    assert node in ("real", "agent"), run.stdout[-2000:]
    if node == "real":
        # The chart serves the hook's metrics on the Pods' own "metrics" port (a PodMonitor
        # scrapes it; tests/e2e/test_observability.py), not on the Service jobs reach.
        assert hook.startswith("http://"), hook
        answer = requests.get(hook.rstrip("/") + "/metrics", timeout=10)
        assert answer.status_code == 404, answer.text[:200]
