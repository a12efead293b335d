"""The Node.js job client's own tests (``node --test`` in clients/node), run by pytest so
``make test`` runs them: the shared signing vectors, the protocol against a local hook,
the package's declarations. ``make tools`` installs Node.js (Debian's nodejs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "clients" / "node"
NODE = shutil.which("node")


def node_major() -> int:
    assert NODE is not None
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True)
    return int(version.stdout.strip().lstrip("v").split(".")[0])


@pytest.mark.skipif(NODE is None, reason="node is not installed (make tools installs nodejs)")
def test_node_client_passes_its_own_tests() -> None:
    assert NODE is not None  # skipped above when it is
    assert node_major() >= 18, "the package needs Node.js 18+ (fetch, node:test)"
    tests = sorted(str(p) for p in (PACKAGE / "test").glob("*.test.js"))
    assert len(tests) >= 3
    run = subprocess.run(
        [NODE, "--test", *tests],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = dict(
        line[2:].split(" ", 1) for line in run.stdout.splitlines() if line.startswith("# ")
    )
    assert int(summary["fail"]) == 0
    assert int(summary["pass"]) >= 20, summary


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_pack_ships_the_modules_their_types_readme_and_license() -> None:
    run = subprocess.run(
        ["npm", "pack", "--dry-run", "--json"],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (packed,) = json.loads(run.stdout)
    assert packed["name"] == "@asyncaction/job"
    assert sorted(f["path"] for f in packed["files"]) == [
        "LICENSE",
        "README.md",
        "index.d.ts",
        "index.js",
        "package.json",
        "signing.d.ts",
        "signing.js",
    ]
