"""The client and CLI install and run without the operator: ``client/pyproject.toml``
declares only what they import, and they import nothing else.

The check runs the client's sources in a separate interpreter where every top-level
module is refused unless it is the standard library, the client's own packages, or
provided by a distribution that ``client/pyproject.toml`` declares (or one of those
requires in turn). The operator's ``asyncaction`` package, kopf and boto3 are
therefore absent there, as after ``pip install ./client``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLIENT = ROOT / "client"
OPERATOR_ONLY = {"kopf", "boto3", "botocore", "asyncaction", "asyncaction_hook", "asyncaction_job"}


def requirement_name(text: str) -> str | None:
    """The distribution a requirement names; None for one only an extra asks for."""
    if "extra ==" in text:
        return None
    found = re.match(r"[A-Za-z0-9_.\-]+", text.strip())
    return found.group(0) if found else None


def closure(names: list[str]) -> set[str]:
    """The distributions ``names`` need, with everything they require, installed here."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # a requirement whose marker excludes this Python (async-timeout)
        seen.add(name)
        for requirement in requires:
            needed = requirement_name(requirement)
            if needed:
                todo.append(needed)
    return seen


def allowed_modules() -> set[str]:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    declared = [n for n in map(requirement_name, project["dependencies"]) if n]
    distributions = closure(declared)
    modules = {
        module
        for module, owners in metadata.packages_distributions().items()
        if any(re.sub(r"[-_.]+", "-", o).lower() in distributions for o in owners)
    }
    return modules | {"asyncaction_client", "asyncaction_cli"}


PROBE = """
import json, sys
allowed = set(json.loads(sys.argv[1]))
def editable(finder):
    return getattr(finder, "__module__", "").startswith("__editable__")
sys.meta_path[:] = [f for f in sys.meta_path if not editable(f)]
sys.path[:] = [p for p in sys.path if "__editable__" not in p]
sys.path.insert(0, sys.argv[2])

class Refuse:
    refused = []
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or top in sys.stdlib_module_names or top.startswith("_"):
            return None
        Refuse.refused.append(top)
        raise ModuleNotFoundError(f"not in the client-only install: {top}", name=top)

sys.meta_path.insert(0, Refuse())
import asyncaction_client
from asyncaction_client import ApiError, AsyncClient, Client
import asyncaction_cli.main as cli
assert asyncaction_client.__file__.startswith(sys.argv[2]), asyncaction_client.__file__
code = cli.run(["list", "--kubeconfig", sys.argv[3]], cli.Output(sys.stdout, sys.stderr))
print(json.dumps({"code": code, "refused": sorted(set(Refuse.refused))}))
"""


def test_client_and_cli_run_with_only_the_client_dependencies(tmp_path: Path) -> None:
    allowed = allowed_modules()
    assert not allowed & OPERATOR_ONLY, allowed & OPERATOR_ONLY
    nowhere = tmp_path / "kubeconfig"
    nowhere.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    probe = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, json.dumps(sorted(allowed)), str(CLIENT), str(nowhere)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    outcome = json.loads(probe.stdout.splitlines()[-1])
    # The CLI got as far as the network: exit 1 with one line naming the connection.
    # (Libraries probe optional modules such as brotli; refusing those changes nothing.)
    assert outcome["code"] == 1, probe.stderr
    assert probe.stderr == (
        "error: cannot reach the API server https://127.0.0.1:9: Connection refused\n"
    ), probe.stderr
    assert not set(outcome["refused"]) & OPERATOR_ONLY


def test_the_client_package_declares_no_operator_dependency() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    declared = {n.lower() for n in map(requirement_name, project["dependencies"]) if n}
    assert declared == {"kubernetes", "kubernetes_asyncio", "aiohttp", "pyyaml"}
    assert project["optional-dependencies"] == {"s3": ["boto3>=1.34"]}
    assert project["scripts"]["asyncaction"] == "asyncaction_cli.main:main"
