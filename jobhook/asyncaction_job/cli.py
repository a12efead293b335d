"""``asyncaction-job``: the job client for shell scripts.

    asyncaction-job report --progress 50 --details '{"step": "resize"}'
    asyncaction-job download input /tmp/in.png
    asyncaction-job upload thumbnail /tmp/out.png
    asyncaction-job succeed --result '{"width": 128}'
    asyncaction-job run -- convert ...      (typed arguments; see entrypoint)

Exit codes: 0 ok, 2 usage, 3 refused by the hook, 4 hook unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from asyncaction_job.client import HookError, JobClient
from asyncaction_job.entrypoint import run


def _json_arg(text: str) -> Any:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise argparse.ArgumentTypeError(
                f"cannot read {text[1:]}: {exc.strerror or exc}"
            ) from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncaction-job",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="report progress")
    report.add_argument("--progress", type=int)
    report.add_argument("--details", type=_json_arg)
    report.add_argument("--log", action="append", default=[])
    succeed = sub.add_parser("succeed", help="end with success")
    succeed.add_argument("--result", type=_json_arg, default={})
    fail = sub.add_parser("fail", help="end with failure")
    fail.add_argument("message")
    sub.add_parser("action", help="print the action (request, arguments, attempt)")
    download = sub.add_parser("download", help="download an input")
    download.add_argument("name")
    download.add_argument("dest", type=Path)
    download.add_argument("--index", type=int, default=0)
    upload = sub.add_parser("upload", help="upload an output")
    upload.add_argument("name")
    upload.add_argument("path", type=Path)
    runner = sub.add_parser("run", help="run CMD with typed arguments staged")
    runner.add_argument("cmd", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not cmd:
                print("asyncaction-job run: a command is required after --", file=sys.stderr)
                return 2
            return run(cmd)
        client = JobClient.from_env()
        if args.command == "report":
            client.report(args.progress, args.details, args.log or None)
        elif args.command == "succeed":
            client.succeed(args.result)
        elif args.command == "fail":
            client.fail(args.message)
        elif args.command == "action":
            print(json.dumps(client.action(), indent=2))
        elif args.command == "download":
            print(client.download(args.name, args.dest, args.index))
        elif args.command == "upload":
            try:  # before the hook is asked: a wrong path is the caller's mistake
                args.path.open("rb").close()
            except OSError as exc:
                print(f"asyncaction-job: cannot read {args.path}: {exc.strerror}", file=sys.stderr)
                return 2
            done = client.upload(args.name, args.path)
            print("uploaded" if done else "already uploaded")
    except HookError as exc:
        print(f"asyncaction-job: {exc}", file=sys.stderr)
        return 4 if exc.status == 0 or exc.status >= 500 else 3
    except RuntimeError as exc:
        print(f"asyncaction-job: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
