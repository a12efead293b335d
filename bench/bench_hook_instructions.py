"""Instructions the hook executes per signed report: a figure the host cannot move.

The hook's throughput on a shared two-core VM moves by a quarter between runs minutes
apart (``docs/performance.md``: a fixed Python loop moves as much), so a change of a
few per cent to the hook's code is invisible in reports a second. Instructions are
not: this runs ``bench_hook_inprocess.py`` under valgrind's callgrind twice, with
``BASE`` and with ``REPORTS`` reports, and divides the difference of the hook
process's instruction counts by the difference of reports, which cancels start-up.
It does the same for the HTTP server alone (``--bare``: read the body, answer JSON),
the floor under the hook's own code. Repeated runs agree within 0.1 %.

Under callgrind the hook runs about 50 times slower, so the coalescing window is set to
an hour: each action is written once when its first report arrives and once at the
end, as many writes in both runs, instead of a write per report. The kernel's share
(the loopback sends, about a sixth of the hook's CPU) is not counted.

    .venv/bin/python bench/bench_hook_instructions.py [REPORTS] [BASE]   (4000 1000)
        [--loop uvloop]

Instructions are not time: uvloop runs a report in 7.6 % fewer instructions than
asyncio's loop, and the hook on uvloop was no faster on the cluster bench (two
interleaved pairs, ``docs/performance.md``). A count says where code got shorter; only
the bench on the cluster says whether it got faster.

Needs valgrind (``apt-get install valgrind``); without it, says so and stops.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

INPROCESS = Path(__file__).resolve().parent / "bench_hook_inprocess.py"


def hook_instructions(reports: int, bare: bool, loop: str) -> tuple[int, str]:
    """Instructions of the hook process for ``reports`` reports, and the bench's output."""
    with tempfile.TemporaryDirectory(prefix="hook-callgrind-") as out:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}/callgrind.%p",
            sys.executable,
            "-u",
            str(INPROCESS),
            str(reports),
            "16",
            "200",
            "--coalesce-window",
            "3600",
            "--loop",
            loop,
            *(["--bare"] if bare else []),
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=True)
        found = re.search(r"hook process (\d+) on port", run.stdout)
        if found is None:
            raise SystemExit(f"no hook process in the bench's output:\n{run.stdout}")
        profile = Path(out, f"callgrind.{found.group(1)}").read_text(errors="replace")
        summary = re.search(r"^summary: (\d+)$", profile, re.MULTILINE)
        if summary is None:
            raise SystemExit("callgrind wrote no summary for the hook process")
        return int(summary.group(1)), run.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=int, nargs="?", default=4000)
    parser.add_argument("base", type=int, nargs="?", default=1000)
    parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the hook's: asyncio"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("skipped: valgrind is not installed (apt-get install valgrind)")
        return
    if args.reports <= args.base:
        raise SystemExit("REPORTS must be more than BASE")
    per_report = {}
    for name, bare in (("hook", False), ("the HTTP server alone (--bare)", True)):
        low, _ = hook_instructions(args.base, bare, args.loop)
        high, output = hook_instructions(args.reports, bare, args.loop)
        answered = re.search(r"answers 200: (\d+)", output)
        per_report[name] = (high - low) / (args.reports - args.base)
        print(
            f"{name}: {per_report[name]:,.0f} instructions a report "
            f"({low:,} for {args.base} reports, {high:,} for {args.reports};"
            f" answered 200: {answered.group(1) if answered else '?'})",
            flush=True,
        )
    own = per_report["hook"] - per_report["the HTTP server alone (--bare)"]
    print(f"the hook's own code: {own:,.0f} instructions a report")


if __name__ == "__main__":
    main()
