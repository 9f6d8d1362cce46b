"""``regiongate org-credentials add|replace|delete|list``: an organisation's own provider credentials ("bring your
own key") in the region's audit store (DATABASE_URL), sealed with the stack's KMS key.

The API key is read from standard input (piped) or a prompt that does not echo it, never from an argument
(arguments end up in shell histories and process lists). It is never printed again: ``list`` shows the
provider, kind, endpoint or role, and when and by whom it was set.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from typing import Any, TextIO

from regiongate.contract.environment import CREDENTIALS_KEY_ARN

_KMS_ARN_RE = re.compile(r"^arn:(?P<partition>[a-z-]+):kms:(?P<region>[a-z0-9-]+):\d{12}:key/[0-9a-f-]{36}$")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "org-credentials", help="an organisation's own provider credentials (bring your own key)"
    )
    sub = parser.add_subparsers(dest="org_credentials_command", metavar="ACTION", required=True)
    for name, help_text in (
        ("add", "add the org's credential for a provider (the API key from stdin or a prompt)"),
        ("replace", "replace the org's credential for a provider"),
    ):
        action = sub.add_parser(name, help=help_text)
        _common(action)
        action.add_argument("--provider", required=True, help="provider name of the region (regions.yaml)")
        action.add_argument(
            "--endpoint", help="https endpoint of the org's own resource (must be on the region's allowed_hosts)"
        )
        action.add_argument("--role-arn", help="Bedrock: the IAM role of the org's account the gateway assumes")
        action.add_argument(
            "--kms-key-arn",
            default=os.environ.get(CREDENTIALS_KEY_ARN),
            help=f"the stack's KMS key (default: ${CREDENTIALS_KEY_ARN}); only for API keys",
        )
        action.add_argument("--by", default=os.environ.get("USER") or "cli", help="who sets it (recorded)")
        action.add_argument(
            "--platform-fallback", choices=("allow", "deny"), help="also set whether the platform's may serve the org"
        )
        action.set_defaults(func=run_put, replace_existing=name == "replace")
    delete = sub.add_parser("delete", help="delete the org's credential for a provider")
    _common(delete)
    delete.add_argument("--provider", required=True)
    delete.set_defaults(func=run_delete)
    listing = sub.add_parser("list", help="the org's credentials (never their secrets) and its fallback setting")
    _common(listing)
    listing.add_argument("--platform-fallback", choices=("allow", "deny"), help="set the fallback, then list")
    listing.set_defaults(func=run_list)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", required=True, help="region code (eu, us, sg, cn)")
    parser.add_argument("--org", required=True)
    parser.add_argument("--config", help="path of regions.yaml")


def _runtime(args: argparse.Namespace) -> Any:
    from regiongate.config.gateway import runtime_document
    from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue
    from regiongate.contract.document import RuntimeConfig

    region = load_catalogue(args.config or DEFAULT_CONFIG_PATH).region(args.region)
    return RuntimeConfig.from_document(runtime_document(region))


def _envelope(args: argparse.Namespace, runtime: Any) -> Any:
    from regiongate.store.provider_credentials import CredentialRefused, Envelope

    arn = args.kms_key_arn
    if not arn:
        return None
    match = _KMS_ARN_RE.match(arn)
    if match is None or (match["partition"], match["region"]) != (runtime.partition, runtime.aws_region):
        raise CredentialRefused(
            f"--kms-key-arn must be the stack's key in {runtime.partition}/"
            f"{runtime.aws_region} (arn:{runtime.partition}:kms:{runtime.aws_region}:<account>:key/<id>)"
        )
    return Envelope(arn, runtime.code, runtime.aws_region)


def read_secret(stdin: TextIO | None = None) -> str:
    """The API key: piped on stdin, or typed at a prompt that does not echo it."""
    stream = stdin or sys.stdin
    if stream.isatty():
        return getpass.getpass("API key (not echoed): ")
    return stream.read()


def _service(args: argparse.Namespace, envelope: bool = False) -> tuple[Any, Any]:
    from regiongate.cli.commands.db import open_store
    from regiongate.store.provider_credentials import ProviderCredentials

    runtime = _runtime(args)
    sealing = _envelope(args, runtime) if envelope else None  # refused before the database is opened
    store = open_store()
    return ProviderCredentials(store, sealing, runtime), store


def _fallback(service: Any, args: argparse.Namespace) -> None:
    if getattr(args, "platform_fallback", None):
        service.set_platform_fallback(args.org, args.platform_fallback == "allow")


def run_put(args: argparse.Namespace) -> int:
    from regiongate.store.provider_credentials import (
        API_KEY,
        KIND_OF_PROVIDER_TYPE,
        CredentialNotFound,
        CredentialRefused,
    )

    try:
        service, store = _service(args, envelope=True)
    except CredentialRefused as exc:
        print(f"regiongate org-credentials: {exc}", file=sys.stderr)
        return 2
    try:
        entry = service.runtime.providers.get(args.provider)
        needs_key = entry is not None and KIND_OF_PROVIDER_TYPE.get(entry.type) == API_KEY
        try:
            secret = read_secret() if needs_key else None
            record = service.put(
                org_id=args.org,
                provider=args.provider,
                set_by=args.by,
                secret=secret,
                endpoint=args.endpoint,
                role_arn=args.role_arn,
                replace_existing=args.replace_existing,
            )
            _fallback(service, args)
        except (CredentialRefused, CredentialNotFound) as exc:
            print(f"regiongate org-credentials: {exc}", file=sys.stderr)
            return 2
        finally:
            secret = None
    finally:
        store.pool.close()
    where = record.endpoint or record.role_arn or "the provider's configured endpoint"
    verb = "replaced" if args.replace_existing else "added"
    print(f"{verb} org {record.org_id}'s {record.kind} for {record.provider} ({where}); it is not shown again")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    service, store = _service(args)
    try:
        deleted = service.delete(args.org, args.provider)
    finally:
        store.pool.close()
    if not deleted:
        print(f"regiongate org-credentials: org {args.org} has no credential for {args.provider}", file=sys.stderr)
        return 1
    print(f"deleted org {args.org}'s credential for {args.provider}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from regiongate.store.provider_credentials import CredentialRefused, external_id

    service, store = _service(args)
    try:
        try:
            _fallback(service, args)
        except CredentialRefused as exc:
            print(f"regiongate org-credentials: {exc}", file=sys.stderr)
            return 2
        records = service.list(args.org)
        fallback = service.platform_fallback(args.org)
    finally:
        store.pool.close()
    for r in records:
        where = r.endpoint or r.role_arn or "(the provider's configured endpoint)"
        print(f"{r.provider}\t{r.kind}\t{where}\tset {r.set_at.isoformat()} by {r.set_by}")
    if not records:
        print(f"org {args.org} has no credentials of its own in region {args.region}")
    print(f"platform credentials as fallback: {'allowed' if fallback else 'denied'}")
    if any(r.kind == "bedrock_role" for r in records):
        print(f"the role's trust policy must require sts:ExternalId {external_id(args.region, args.org)}")
    return 0
