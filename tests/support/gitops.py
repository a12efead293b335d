"""How GitOps tools read an AsyncAction: Argo CD's Lua health check and the kstatus rules.

``run_health`` runs the chart's ``health.lua`` in a real Lua interpreter the way Argo CD
does (the object as the global ``obj``, the returned table read back); ``kstatus`` is
the generic kstatus rules (sigs.k8s.io/cli-utils) that Flux and ``kubectl wait`` apply to
custom resources: deletion -> Terminating; observedGeneration behind generation ->
InProgress; Reconciling=True -> InProgress; Stalled=True -> Failed; otherwise Current.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.chart import CHART

HEALTH = CHART / "health" / "asyncaction.dev" / "AsyncAction"


def lua_literal(value: Any) -> str:
    """A Lua table constructor for a decoded YAML value (as Argo CD converts objects)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        fields = (f"[{lua_literal(str(k))}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(fields) + "}"
    raise TypeError(type(value))


# Argo CD runs health checks in gopher-lua, a Lua 5.1: every check runs in 5.1 and 5.4.
INTERPRETERS = ("lua5.1", "lua5.4")


def lua(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"no {name}: `make tools` installs {' and '.join(INTERPRETERS)}")
    return found


def run_health(
    obj: dict[str, Any], interpreter: str = "lua5.1", script: Path = HEALTH / "health.lua"
) -> dict[str, str]:
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local check = assert(loadfile({lua_literal(str(script))}))\n"
        "local hs = check()\n"
        'io.write(tostring(hs.status), "\\0", tostring(hs.message))\n'
    )
    done = subprocess.run(
        [lua(interpreter), "-"],
        input=program,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    status, message = done.stdout.split("\0")
    return {"status": status, "message": message}


def kstatus(obj: dict[str, Any]) -> str:
    """The generic kstatus rules for a custom resource (cli-utils checkGenericProperties)."""
    meta = obj.get("metadata", {})
    if meta.get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is not None and observed != meta.get("generation"):
        return "InProgress"
    for condition in status.get("conditions") or []:
        if condition["type"] == "Reconciling" and condition["status"] == "True":
            return "InProgress"
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return "Failed"
    return "Current"
