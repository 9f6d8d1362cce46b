"""`regiongate profiles check`: compare bedrock-profiles.yaml with the account's own inference profiles.

For every geography inference profile a region's catalogue uses, ``GetInferenceProfile`` (Bedrock control
plane, in the region the gateway calls the profile from) says where the account may route prompts. The check
fails when a destination is outside the region's ``inference_regions`` (the promise would be broken) and
reports drift from the file (the gateway's grants are built from the file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profiles", help="check the Bedrock inference profile destinations regiongate relies on"
    )
    actions = parser.add_subparsers(dest="profiles_command", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="compare bedrock-profiles.yaml with GetInferenceProfile in your account",
        description=(
            "For each geography inference profile the region's models use, call GetInferenceProfile in the "
            "region the gateway calls it from and compare its destinations with bedrock-profiles.yaml and "
            "with the region's inference_regions. Exit 1 on a destination outside inference_regions or on "
            "drift from the file. Credentials: the default chain, or --aws-profile."
        ),
    )
    check.add_argument("--region", required=True, metavar="CODE", help="region code in regions.yaml, e.g. eu")
    check.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="regions.yaml (default: %(default)s)")
    check.add_argument("--aws-profile", help="AWS profile of the region's account (default: default credentials)")
    check.add_argument("--endpoint-url", help="Bedrock control-plane endpoint (default: the regional AWS endpoint)")
    check.set_defaults(func=run_check)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)


def used_profiles(region: Any) -> list[tuple[str, str]]:
    """(profile id, region it is called from) for every model of ``region`` that targets a geography profile."""
    from regiongate.config.gateway import PROFILE_DESTINATIONS

    gateway = region.gateway
    if gateway is None:
        return []
    used: dict[str, str] = {}
    for model in gateway.models:
        provider = gateway.provider(model.provider)
        if provider.type == "bedrock" and model.target in PROFILE_DESTINATIONS and provider.aws_region:
            used.setdefault(model.target, provider.aws_region)
    return sorted(used.items())


def allowed_regions(region: Any, profile_id: str) -> tuple[str, ...]:
    """Where ``profile_id`` may process for ``region``: its inference_regions, widened by a named processing area
    only when every model of the region that uses the profile opted into one (regiongate.config.processing_areas)."""
    gateway = region.gateway
    allowed = tuple(region.inference_regions)
    users = [m for m in (gateway.models if gateway else ()) if m.target == profile_id]
    if users and all(m.area is not None for m in users):
        common = set.intersection(*(set(m.area.regions) for m in users))
        allowed = tuple(dict.fromkeys((*allowed, *sorted(common))))
    return allowed


def run_check(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from regiongate.config.bedrock_profiles import ProfileCheck, destination_regions, shipped_profiles

    region = load_catalogue(args.config).region(args.region)
    used = used_profiles(region)
    if not used:
        print(f"regions.{region.code} uses no Bedrock geography inference profile: nothing to check")
        return 0
    session = boto3.Session(profile_name=args.aws_profile) if args.aws_profile else boto3.Session()
    table = shipped_profiles()
    clients: dict[str, Any] = {}
    failed = False
    print(f"Checking {len(used)} inference profile(s) of regions.{region.code} in account {region.account}")
    for profile_id, called_from in used:
        if called_from not in clients:
            clients[called_from] = session.client("bedrock", region_name=called_from, endpoint_url=args.endpoint_url)
        try:
            answer = clients[called_from].get_inference_profile(inferenceProfileIdentifier=profile_id)
            live = destination_regions([m["modelArn"] for m in answer.get("models", [])])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            print(
                f"{profile_id} (called from {called_from}): GetInferenceProfile failed "
                f"({error.get('Code', '?')}: {error.get('Message', '')}); the account cannot use this profile there",
                file=sys.stderr,
            )
            failed = True
            continue
        except (BotoCoreError, ValueError) as exc:
            print(f"regiongate profiles check: {profile_id} in {called_from}: {exc}", file=sys.stderr)
            return 1
        result = ProfileCheck(
            profile_id=profile_id,
            called_from=called_from,
            listed=table[profile_id].destinations,
            live=live,
            allowed=allowed_regions(region, profile_id),
        )
        for line in result.lines():
            print(line)
        failed = failed or bool(result.outside) or result.drifted
    print("FAILED" if failed else "All profiles stay within the file's destinations and inside inference_regions.")
    return 1 if failed else 0
