"""``regiongate keys create|show|list|update|revoke|org-budget|team-budget|org-limits``: region-bound API keys, their budgets and
rate limits in the audit store (DATABASE_URL)."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from regiongate.contract.limits import BUDGET_RULE, DEFAULT_KEY_CACHE_TTL_SECONDS, budget_problem


def _decimal(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{value!r} is not an amount of USD") from None
    if budget_problem(amount) is not None:  # the one bound of every budget (contract.limits)
        raise argparse.ArgumentTypeError(f"a budget must be {BUDGET_RULE}")
    return amount


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError("a limit is a whole number (0: no limit)")
    return number


def _limit_arguments(parser: argparse.ArgumentParser, whose: str) -> None:
    parser.add_argument("--rpm", type=_limit, help=f"requests per minute of {whose} (0: no limit)")
    parser.add_argument("--tpm", type=_limit, help=f"tokens per minute of {whose}: input and max output (0: no limit)")
    parser.add_argument("--concurrency", type=_limit, help=f"concurrent requests of {whose} (0: no limit)")


def _limits(args: argparse.Namespace, current=None):
    """The limits the flags give, over ``current`` (flags not given keep their value; 0 clears)."""
    from regiongate.store import RateLimits

    current = current or RateLimits()

    def pick(flag: int | None, value: int | None) -> int | None:
        if flag is None:
            return value
        return flag or None

    return RateLimits(
        requests_per_minute=pick(args.rpm, current.requests_per_minute),
        tokens_per_minute=pick(args.tpm, current.tokens_per_minute),
        concurrent_requests=pick(args.concurrency, current.concurrent_requests),
    )


def _describe(limits) -> str:
    parts = [
        f"{limits.requests_per_minute} requests/minute" if limits.requests_per_minute else None,
        f"{limits.tokens_per_minute} tokens/minute" if limits.tokens_per_minute else None,
        f"{limits.concurrent_requests} concurrent requests" if limits.concurrent_requests else None,
    ]
    return ", ".join(p for p in parts if p) or "no rate limits"


def register(subparsers) -> None:
    parser = subparsers.add_parser("keys", help="create, list and revoke region-bound API keys")
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="create a key (printed once; only its hash is stored)")
    create.add_argument("--region", required=True, help="region code the key is bound to (eu, us, sg, cn)")
    create.add_argument("--org", required=True)
    create.add_argument("--team")
    create.add_argument("--user")
    create.add_argument("--budget-usd", type=_decimal, help="monthly budget of this key in USD")
    create.add_argument("--models", help="comma-separated model allowlist (default: every model of the region)")
    create.add_argument("--expires-days", type=int, help="expire the key after this many days")
    create.add_argument("--config", help="path of regions.yaml (to check the region and model names)")
    _limit_arguments(create, "this key")
    create.set_defaults(func=run_create)

    update = sub.add_parser("update", help="change a key's rate limits (flags not given keep their value)")
    update.add_argument("key_id")
    update.add_argument("--region", required=True, help="region code of the key")
    _limit_arguments(update, "this key")
    update.set_defaults(func=run_update)

    listing = sub.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--region")
    listing.add_argument("--org")
    listing.set_defaults(func=run_list)

    show = sub.add_parser("show", help="show a key (never the key itself) and where its models may be processed")
    show.add_argument("key_id")
    show.add_argument("--config", help="path of regions.yaml (where the region's models are processed)")
    show.set_defaults(func=run_show)

    revoke = sub.add_parser(
        "revoke",
        help="revoke a key by id (stops working within the region's key cache TTL, "
        f"key_cache_ttl_seconds: {DEFAULT_KEY_CACHE_TTL_SECONDS} s unless regions.yaml sets it)",
    )
    revoke.add_argument("key_id")
    revoke.set_defaults(func=run_revoke)

    budget = sub.add_parser("org-budget", help="set (or clear with --clear) an organisation's monthly budget")
    budget.add_argument("--org", required=True)
    group = budget.add_mutually_exclusive_group(required=True)
    group.add_argument("--budget-usd", type=_decimal)
    group.add_argument("--clear", action="store_true")
    budget.set_defaults(func=run_org_budget)

    team_budget = sub.add_parser(
        "team-budget",
        help="set (or clear with --clear) a team's monthly budget, shared by every key of the team; "
        "without --budget-usd or --clear, list the team budgets (of --org)",
    )
    team_budget.add_argument("--org", required=True)
    team_budget.add_argument("--team", help="team id (the keys' --team)")
    group = team_budget.add_mutually_exclusive_group()
    group.add_argument("--budget-usd", type=_decimal)
    group.add_argument("--clear", action="store_true")
    team_budget.set_defaults(func=run_team_budget)

    org_limits = sub.add_parser(
        "org-limits",
        help="set an organisation's rate limits, shared by all its keys (flags not given keep their value)",
    )
    org_limits.add_argument("--org", required=True)
    _limit_arguments(org_limits, "the whole organisation")
    org_limits.set_defaults(func=run_org_limits)


def _service():
    from regiongate.cli.commands.db import open_store
    from regiongate.store.keys import KeyService

    store = open_store()
    return KeyService(store), store


def run_create(args: argparse.Namespace) -> int:
    from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue
    from regiongate.contract.errors import GatewayError

    region = load_catalogue(args.config or DEFAULT_CONFIG_PATH).region(args.region)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models else None
    if models and region.gateway is not None:
        known = {m.name for m in region.gateway.models}
        unknown = [m for m in models if m not in known]
        if unknown:
            print(
                f"regiongate keys create: unknown model(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}",
                file=sys.stderr,
            )
            return 2
    if args.expires_days is not None and args.expires_days < 1:
        print("regiongate keys create: --expires-days must be at least 1", file=sys.stderr)
        return 2
    service, store = _service()
    expires = None if args.expires_days is None else service.clock() + timedelta(days=args.expires_days)
    try:
        created = service.create(
            region_code=region.code,
            org_id=args.org,
            team_id=args.team,
            user_id=args.user,
            monthly_budget_usd=args.budget_usd,
            model_allowlist=models,
            expires_at=expires,
            limits=_limits(args),
        )
    except GatewayError as exc:
        print(f"regiongate keys create: {exc.message}", file=sys.stderr)
        return 2
    finally:
        store.pool.close()
    print(created.key)
    print(
        f"key id {created.record.key_id} (org {created.record.org_id}); store the key now: it is not shown again",
        file=sys.stderr,
    )
    for line in processing_lines(region, models):
        print(f"processed {line}", file=sys.stderr)
    return 0


def processing_lines(region: Any, model_allowlist: tuple[str, ...] | None) -> list[str]:
    """Where a key's models may be processed (regiongate.contract.processing), from the region's configuration."""
    from regiongate.config.gateway import runtime_config
    from regiongate.contract import processing

    return processing.describe_key(runtime_config(region), model_allowlist)


def run_show(args: argparse.Namespace) -> int:
    from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue

    service, store = _service()
    try:
        record = next((r for r in service.list() if r.key_id == args.key_id), None)
    finally:
        store.pool.close()
    if record is None:
        print(f"regiongate keys show: no key {args.key_id}", file=sys.stderr)
        return 1
    region = load_catalogue(args.config or DEFAULT_CONFIG_PATH).region(record.region)
    now = service.clock()
    status = (
        "revoked" if record.revoked_at else "expired" if record.expires_at and record.expires_at <= now else "active"
    )
    print(f"key id    {record.key_id} ({record.display_prefix}…), {status}")
    print(f"region    {record.region} (works only on this region's gateway)")
    print(f"org       {record.org_id}, team {record.team_id or '-'}, user {record.user_id or '-'}")
    models = ", ".join(record.model_allowlist) if record.model_allowlist else "all of the region's"
    print(f"models    {models}")
    for line in processing_lines(region, record.model_allowlist):
        print(f"processed {line}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    service, store = _service()
    try:
        records = service.list(region_code=args.region, org_id=args.org)
    finally:
        store.pool.close()
    print(f"{'KEY ID':22} {'PREFIX':14} {'REGION':6} {'ORG':16} {'TEAM':12} {'USER':12} {'BUDGET':>10} STATUS")
    now = service.clock()
    for r in records:
        status = "revoked" if r.revoked_at else "expired" if r.expires_at and r.expires_at <= now else "active"
        budget = f"{r.monthly_budget_usd:.2f}" if r.monthly_budget_usd is not None else "-"
        print(
            f"{r.key_id:22} {r.display_prefix + '…':14} {r.region:6} {r.org_id:16} {r.team_id or '-':12} "
            f"{r.user_id or '-':12} {budget:>10} {status}"
        )
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    service, store = _service()
    try:
        revoked = service.revoke(args.key_id)
    finally:
        store.pool.close()
    if not revoked:
        print(f"regiongate keys revoke: no active key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0


def run_update(args: argparse.Namespace) -> int:
    from regiongate.contract.errors import GatewayError

    if args.rpm is None and args.tpm is None and args.concurrency is None:
        print("regiongate keys update: give at least one of --rpm, --tpm, --concurrency", file=sys.stderr)
        return 2
    service, store = _service()
    try:
        limits = _limits(args, service.limits(args.key_id))
        updated = service.set_limits(args.key_id, region_code=args.region, limits=limits)
    except GatewayError as exc:
        print(f"regiongate keys update: {exc.message}", file=sys.stderr)
        return 2
    finally:
        store.pool.close()
    if not updated:
        print(f"regiongate keys update: no active key {args.key_id} in region {args.region}", file=sys.stderr)
        return 1
    print(f"{args.key_id}: {_describe(limits)}")
    return 0


def run_org_limits(args: argparse.Namespace) -> int:
    from regiongate.contract.errors import GatewayError

    if args.rpm is None and args.tpm is None and args.concurrency is None:
        print("regiongate keys org-limits: give at least one of --rpm, --tpm, --concurrency", file=sys.stderr)
        return 2
    service, store = _service()
    try:
        limits = _limits(args, store.rate_limits("org", args.org))
        service.set_org_limits(args.org, limits)
    except GatewayError as exc:
        print(f"regiongate keys org-limits: {exc.message}", file=sys.stderr)
        return 2
    finally:
        store.pool.close()
    print(f"org {args.org}: {_describe(limits)}")
    return 0


def run_org_budget(args: argparse.Namespace) -> int:
    from regiongate.contract.errors import GatewayError

    service, store = _service()
    try:
        service.set_org_budget(args.org, None if args.clear else args.budget_usd)  # checked there as everywhere
    except GatewayError as exc:
        print(f"regiongate keys org-budget: {exc.message}", file=sys.stderr)
        return 2
    finally:
        store.pool.close()
    print(f"org {args.org}: monthly budget {'cleared' if args.clear else f'{args.budget_usd} USD'}")
    return 0


def run_team_budget(args: argparse.Namespace) -> int:
    from regiongate.contract.errors import GatewayError

    if (args.budget_usd is not None or args.clear) and not args.team:
        print("regiongate keys team-budget: --team is required to set or clear a budget", file=sys.stderr)
        return 2
    service, store = _service()
    try:
        if args.budget_usd is None and not args.clear:
            rows = [r for r in store.team_budgets(args.org) if args.team is None or r[1] == args.team]
            for org, team, budget in rows:
                print(f"org {org} team {team}: monthly budget {budget} USD")
            if not rows:
                print(f"org {args.org}: no team budgets")
            return 0
        service.set_team_budget(args.org, args.team, None if args.clear else args.budget_usd)
    except GatewayError as exc:
        print(f"regiongate keys team-budget: {exc.message}", file=sys.stderr)
        return 2
    finally:
        store.pool.close()
    what = "cleared" if args.clear else f"{args.budget_usd} USD"
    print(f"org {args.org} team {args.team}: monthly budget {what}")
    return 0
