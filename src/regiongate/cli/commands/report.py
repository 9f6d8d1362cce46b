"""`regiongate report`: the residency report (Markdown and printable HTML) of a synthesized cloud assembly."""

from __future__ import annotations

import sys
from pathlib import Path

from regiongate.config.regions import DEFAULT_CONFIG_PATH, PROJECT_DIR, load_catalogue


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write residency-report.md and residency-report.html from cdk.out (run `make report` to synthesize first)",
    )
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"), help="the cloud assembly (default: cdk.out)")
    parser.add_argument(
        "--out", type=Path, default=Path("."), help="where to write the report (default: current directory)"
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="region catalogue (default: regions.yaml)"
    )
    parser.add_argument("--stack", action="append", dest="stacks", metavar="NAME", help="only this stack (repeatable)")
    parser.add_argument(
        "--tests-dir", type=Path, default=None, help="where to look for the canary tests (default: tests/gateway)"
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from regiongate.residency.report import build_report, write_report

    if not (args.cdk_out / "manifest.json").is_file():
        print(
            f"regiongate: {args.cdk_out} has no manifest.json; run `make synth` (or `make report`) first",
            file=sys.stderr,
        )
        return 2
    catalogue = load_catalogue(args.config)
    try:
        report = build_report(
            args.cdk_out, args.stacks, catalogue, tests_dir=args.tests_dir or PROJECT_DIR / "tests" / "e2e" / "gateway"
        )
    except ValueError as exc:
        print(f"regiongate: {exc}", file=sys.stderr)
        return 2
    markdown, html = write_report(report, args.out)
    open_findings = sum(len(stack.open_findings) for stack in report.stacks)
    print(f"wrote {markdown} and {html}: {len(report.stacks)} stack(s), {open_findings} open residency finding(s)")
    return 1 if open_findings else 0
