"""``python -m asyncaction_testbed.images build`` (``make images``): build every image.

Prints one JSON row per image (ref, digest, sizes, archive) on stdout; progress goes to
stderr. A module of its own so importing the package never parses a command line.
"""

from __future__ import annotations

import argparse
import json

from asyncaction_testbed.images.recipes import build_all, describe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncaction_testbed.images")
    parser.add_argument("command", choices=["build"])
    parser.parse_args(argv)
    built = build_all()
    for row in describe(built):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
