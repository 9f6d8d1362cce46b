"""``regiongate audit redrive --region eu``: move dead-lettered audit events back to the region's audit queue."""

from __future__ import annotations

import argparse
import re
import sys

from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue


def register(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="operate the region's audit pipeline")
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    redrive = sub.add_parser(
        "redrive",
        help="move dead-lettered audit events back to the audit queue once their cause is fixed (safe to repeat)",
    )
    redrive.add_argument("--region", required=True, help="region code (eu, us, sg, cn)")
    redrive.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="path of regions.yaml")
    redrive.add_argument("--max", type=int, dest="limit", help="move at most this many messages")
    redrive.add_argument("--queue-url", help="the audit queue (default: found in the region's stack)")
    redrive.add_argument("--dead-letter-url", help="its dead-letter queue (default: found in the region's stack)")
    redrive.set_defaults(func=run_redrive)


def run_redrive(args: argparse.Namespace) -> int:
    import boto3

    from regiongate.audit.runtime.redrive import Queues, RedriveError, find_queues, redrive

    if args.limit is not None and args.limit < 1:
        print("regiongate audit redrive: --max must be at least 1", file=sys.stderr)
        return 2
    if bool(args.queue_url) != bool(args.dead_letter_url):
        print("regiongate audit redrive: pass both --queue-url and --dead-letter-url, or neither", file=sys.stderr)
        return 2
    region = load_catalogue(args.config).region(args.region)
    sqs = boto3.client("sqs", region_name=region.aws_region)  # the region's own queues, never another region's
    try:
        queues = (
            Queues(source_url=args.queue_url, dead_letter_url=args.dead_letter_url)
            if args.queue_url
            else find_queues(sqs, region.stack_name)
        )
        for url in (queues.source_url, queues.dead_letter_url):
            if not re.search(rf"[./]{re.escape(region.aws_region)}[./]", url):
                print(f"regiongate audit redrive: {url} is not a queue in {region.aws_region}", file=sys.stderr)
                return 2
        result = redrive(sqs, queues, limit=args.limit)
    except RedriveError as exc:
        print(f"regiongate audit redrive: {exc}", file=sys.stderr)
        return 1
    print(f"moved {result.moved} audit events from {queues.dead_letter_url} to {queues.source_url}")
    if result.kept_invalid:
        print(f"left {len(result.kept_invalid)} messages that are not valid audit events in the dead-letter queue")
    print(f"about {result.remaining} messages remain in the dead-letter queue")
    return 0
