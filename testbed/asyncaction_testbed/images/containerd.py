"""Getting a built image into the node's containerd, with no registry in between.

The node never pulls (containerd's proxy goes nowhere), so every image a Pod uses is
imported from its cached OCI archive with ``ctr images import`` into the ``k8s.io``
namespace the kubelet reads. Importing is skipped when containerd already holds the same
digest under the ref, and checked afterwards, so a stale image never runs silently.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from asyncaction_testbed.images.cache import BuiltImage


def ctr_command(socket: Path) -> list[str]:
    return ["ctr", "--address", str(socket), "--namespace", "k8s.io"]


def imported_digest(ctr: list[str], ref: str) -> str | None:
    out = subprocess.run([*ctr, "images", "ls"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == ref:
            return fields[2]
    return None


def import_image(ctr: list[str], image: BuiltImage) -> bool:
    """Import ``image`` into containerd (namespace k8s.io) unless it is there already."""
    if imported_digest(ctr, image.ref) == image.digest:
        return False
    subprocess.run([*ctr, "images", "import", str(image.archive)], check=True, capture_output=True)
    found = imported_digest(ctr, image.ref)
    if found != image.digest:
        raise RuntimeError(
            f"imported {image.archive} but {image.ref} is {found}, not {image.digest}"
        )
    return True
