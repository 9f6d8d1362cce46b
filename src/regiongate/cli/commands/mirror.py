"""``regiongate mirror``: copy images into the stacks' ECR repositories and pin their digests in the lock."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from regiongate.mirror.lock import DEFAULT_LOCK_PATH, DEFAULT_TARGET_REGION


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mirror",
        help="copy container images into a stack's ECR and pin their digests in images.lock.yaml",
        description=(
            "Copy each --source image (single manifest or multi-arch index) into the ECR repository "
            "regiongate/<name> of the target account, layer by layer, skipping layers already there and "
            "verifying every sha256 digest; then record the digest in the lock file the stacks read. Into a region "
            "other than the lock's target region (cn-north-1) only the digest the lock pins is mirrored, and the lock "
            "records the repository under the image's regions. "
            "Source credentials: REGIONGATE_SOURCE_USERNAME / REGIONGATE_SOURCE_PASSWORD, else ~/.docker/config.json."
        ),
    )
    parser.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="[NAME=]REGISTRY/REPO:TAG",
        help="image to mirror (repeatable); NAME defaults to the last path part, e.g. console",
    )
    parser.add_argument(
        "--target-region",
        default=DEFAULT_TARGET_REGION,
        help="ECR region (default: %(default)s; e.g. eu-west-1 for a stack there)",
    )
    parser.add_argument("--target-profile", help="AWS profile of the target account (default: the default credentials)")
    parser.add_argument(
        "--target-registry",
        metavar="HOST[:PORT]",
        help="push to this Docker Registry v2 / OCI registry instead of ECR (loopback hosts use plain HTTP)",
    )
    parser.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="ID",
        help=(
            "copy into the own repository regiongate/<ID>/<name> of a single-tenant deployment (repeatable, e.g. "
            "tenant-acme) instead of regiongate/<name>; the image must be the digest the lock pins already"
        ),
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would be copied; change nothing")
    parser.add_argument(
        "--lock", type=Path, default=DEFAULT_LOCK_PATH, help="lock file to update (default: %(default)s)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from regiongate.mirror.errors import MirrorError
    from regiongate.mirror.service import mirror, parse_source

    try:
        sources = [parse_source(text) for text in args.source]
        if args.target_registry:
            from regiongate.mirror.reference import parse_reference
            from regiongate.mirror.registry import RegistryClient, credentials_from_environment
            from regiongate.mirror.targets import RegistryTarget

            scheme = parse_reference(f"{args.target_registry}/x").scheme
            target = RegistryTarget(
                RegistryClient(
                    args.target_registry, scheme=scheme, credentials=credentials_from_environment(args.target_registry)
                )
            )
        else:
            from regiongate.mirror.targets import EcrTarget

            target = EcrTarget.from_profile(region=args.target_region, profile=args.target_profile)
        mirror(
            sources,
            target,
            target_region=args.target_region,
            lock_path=args.lock,
            dry_run=args.dry_run,
            deployments=tuple(dict.fromkeys(args.deployment)),
        )
    except MirrorError as exc:
        print(f"regiongate mirror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "regiongate mirror: interrupted; run the same command again to finish (completed layers are kept)",
            file=sys.stderr,
        )
        return 130
    return 0
