"""The Python images' project layer: what pip installs, staged as a directory tree.

pip installs the project from a clean copy of the checkout (and, for the operator image,
its runtime dependencies) into Debian's ``dist-packages``; only the packages an image
needs are kept, each wanted console script is rewritten for Debian's ``python3``, and
bytecode is compiled ahead (the root filesystem is read-only at run time). Apart from the
recipes because this is the only step that reads the checkout, so it alone decides what
of the sources an image holds (``source_files`` is what its cache key covers).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

SITE = "usr/local/lib/python3.11/dist-packages"
# Runtime dependencies of the distribution that neither the operator nor the hook
# imports (the Kubernetes clients of the test bed and of the CLI): left out of the image.
NOT_IN_IMAGE = frozenset({"kubernetes", "kubernetes_asyncio"})


def project_root() -> Path:
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").exists():
        raise RuntimeError(f"no pyproject.toml in {root}: build images from a source checkout")
    return root


def source_files(root: Path) -> list[Path]:
    """What the project layer is made of: the packaged sources and pyproject."""
    files = [root / "pyproject.toml", root / "README.md"]
    for top in ("operator", "jobhook"):
        files += sorted(
            p for p in (root / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    return files


def console_script(target: str) -> str:
    """A console script for Debian's python3 from an entry point ``module:function``."""
    module, function = target.split(":")
    return (
        f"#!/usr/bin/python3\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n"
    )


def entry_points(site: Path) -> dict[str, str]:
    scripts: dict[str, str] = {}
    for dist in site.glob("asyncaction-*.dist-info"):
        text = (dist / "entry_points.txt").read_text()
        section = ""
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif "=" in line and section == "[console_scripts]":
                name, target = (part.strip() for part in line.split("=", 1))
                scripts[name] = target
    return scripts


def image_requirements(pyproject: Path) -> list[str]:
    """The project's runtime requirements, minus those only the test bed uses."""
    wanted = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [r for r in wanted if re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] not in NOT_IN_IMAGE]


def _pip(argv: list[str]) -> None:
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip install into the image failed:\n{done.stdout}{done.stderr}")


def stage_project(
    stage: Path, *, packages: Iterable[str], scripts: Iterable[str], deps: bool
) -> None:
    """pip-install the project (with or without its dependencies) into ``stage``'s site dir.

    Only ``packages`` of the project are kept (plus third-party ones when ``deps``), and
    only ``scripts`` get a console script. Bytecode is compiled with unchecked hashes:
    reproducible, and needed because the root filesystem is read-only at run time.
    """
    site = stage / SITE
    site.mkdir(parents=True)
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--disable-pip-version-check",
        "--target",
        str(site),
    ]
    # From a clean copy: setuptools' build/ in the checkout may hold deleted modules.
    source = stage.parent / "source"
    root = project_root()
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(root / name, source / name)
    for top in ("operator", "jobhook", "client", "testbed"):
        shutil.copytree(root / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    _pip([*pip, "--no-deps", str(source)])
    if deps:
        _pip([*pip, *image_requirements(project_root() / "pyproject.toml")])
    ours = {
        "asyncaction",
        "asyncaction_hook",
        "asyncaction_job",
        "asyncaction_testbed",
        "asyncaction_client",
        "asyncaction_cli",
    }
    for name in ours - set(packages):
        shutil.rmtree(site / name, ignore_errors=True)
    shutil.rmtree(site / "bin", ignore_errors=True)
    available = entry_points(site)
    bin_dir = stage / "usr/local/bin"
    bin_dir.mkdir(parents=True)
    for name in scripts:
        path = bin_dir / name
        path.write_text(console_script(available[name]))
        path.chmod(0o755)
    for direct_url in site.glob("*.dist-info/direct_url.json"):
        direct_url.unlink()  # names the build machine's checkout
    for record in site.glob("*.dist-info/RECORD"):
        record.unlink()  # lists files we removed; nothing reads it at run time
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-d",
            "/" + SITE,
            str(site),
        ],
        check=True,
    )
