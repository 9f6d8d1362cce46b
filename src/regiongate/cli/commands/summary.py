"""`regiongate summary`: the table `make synth` prints after synthesizing every stack."""

from __future__ import annotations

import json
from pathlib import Path

from regiongate.residency.policy import partition_of


def register(subparsers) -> None:
    parser = subparsers.add_parser("summary", help="print a table of the stacks synthesized into cdk.out")
    parser.add_argument(
        "--cdk-out", type=Path, default=Path("cdk.out"), help="cloud assembly directory (default: cdk.out)"
    )
    parser.set_defaults(func=run)


def stack_rows(cdk_out: Path) -> list[dict[str, str]]:
    manifest_path = cdk_out / "manifest.json"
    if not manifest_path.exists():
        raise SystemExit(f"regiongate: {manifest_path} not found; run `make synth` first")
    manifest = json.loads(manifest_path.read_text())
    rows = []
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template = json.loads((cdk_out / artifact["properties"]["templateFile"]).read_text())
        info = template.get("Metadata", {}).get("regiongate", {})
        # CloudFormation creates a stack's resources in its environment's region: that, not the metadata, is where.
        region = artifact.get("environment", "").rsplit("/", 1)[-1] or "?"
        partition = partition_of(region) if region not in ("?", "unknown-region") else "?"
        rows.append(
            {
                "stack": name,
                "aws region": _checked(region, info.get("aws_region")),
                "partition": _checked(partition, info.get("partition")),
                "geography": info.get("geography", "?"),
                "api domain": info.get("api_domain", "?"),
                "resources": str(len(template.get("Resources", {}))),
            }
        )
    return rows


def _checked(actual: str, recorded: str | None) -> str:
    """``actual``, and what the template's metadata records instead when the two differ."""
    return actual if recorded in (None, actual) else f"{actual} (metadata says {recorded})"


def format_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "no stacks synthesized"
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    lines = ["  ".join(h.ljust(widths[h]) for h in headers), "  ".join("-" * widths[h] for h in headers)]
    lines += ["  ".join(r[h].ljust(widths[h]) for h in headers).rstrip() for r in rows]
    return "\n".join(lines)


def run(args) -> int:
    print(format_table(stack_rows(args.cdk_out)))
    return 0
