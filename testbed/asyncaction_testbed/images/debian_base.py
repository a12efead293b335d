"""The images' base layer: a Debian root filesystem from ``mmdebstrap``, built once per recipe.

``--variant=essential`` plus the packages an image needs (``python3`` for the Python
images, ``nodejs`` for the Node job image), documentation stripped, Perl purged, and the
``nonroot`` user (uid 65532) the images run as. Apart from the project layers because it
is the slow, network-bound step (Debian's mirrors) and is shared by several images: its
key holds only the recipe, so it is rebuilt only when the recipe changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from asyncaction_testbed import oci
from asyncaction_testbed.images.cache import (
    RECIPE_VERSION,
    content_key,
    load_layer,
    mark_used,
    save_layer,
    say,
)

NONROOT_UID = 65532
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "ca-certificates")
MIRRORS = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
PURGED_PACKAGES = (
    "usrmerge",
    "perl",
    "perl-modules-5.36",
    "libperl5.36",
    "libfile-find-rule-perl",
    "libnumber-compare-perl",
    "libtext-glob-perl",
)


def base_key(packages: tuple[str, ...] = BASE_PACKAGES) -> str:
    recipe = json.dumps(
        [RECIPE_VERSION, SUITE, packages, MIRRORS, DPKG_EXCLUDES, PURGED_PACKAGES, NONROOT_UID]
    )
    return content_key([recipe.encode()])


def mmdebstrap_argv(out: Path, packages: tuple[str, ...] = BASE_PACKAGES) -> list[str]:
    """A Debian root filesystem with Python, docs stripped and the nonroot user added."""
    user = (
        f'echo "nonroot:x:{NONROOT_UID}:{NONROOT_UID}:nonroot:/tmp:/usr/sbin/nologin"'
        ' >> "$1/etc/passwd"; '
        f'echo "nonroot:x:{NONROOT_UID}:" >> "$1/etc/group"'
    )
    return [
        "mmdebstrap",
        "--variant=essential",
        "--mode=root",
        f"--include={','.join(packages)}",
        *[f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES],
        f"--customize-hook={user}",
        # Perl comes only with usrmerge (a one-time migration, done by then): a third of
        # the base. Removed with its dependents; nothing in the images runs dpkg again.
        '--customize-hook=chroot "$1" dpkg --purge --force-depends ' + " ".join(PURGED_PACKAGES),
        '--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*',
        SUITE,
        str(out),
        *MIRRORS,
    ]


def base_layer(cache: Path, packages: tuple[str, ...] = BASE_PACKAGES) -> oci.Layer:
    """The Debian layer with ``packages`` (Python by default), built once per recipe."""
    key = base_key(packages)
    meta = cache / f"base-{key}.json"
    if meta.exists():
        layer = load_layer(meta)
        if layer is not None:
            mark_used(meta)
            return layer
    if not shutil.which("mmdebstrap"):
        raise RuntimeError("mmdebstrap is missing: run `make node-setup` (installs it)")
    with tempfile.TemporaryDirectory(dir=cache, prefix="base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        say(f"building the Debian base layer ({', '.join(packages)}) with mmdebstrap")
        subprocess.run(
            mmdebstrap_argv(rootfs, packages),
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": "0"},  # reproducible file contents
        )
        layer_tar = Path(tmp) / "layer.tar"
        with layer_tar.open("wb") as out:
            oci.filter_tar(rootfs, out, drop_prefixes=("dev",))
        layer = oci.gzip_layer(layer_tar, cache / "blobs")
    save_layer(meta, layer)
    return layer
