"""``regiongate memory enable|disable|status``: Memory-as-a-Service of one org in one region's database
(DATABASE_URL). Enabling is refused unless the region's configuration offers memory
(``regions.<code>.gateway.memory.available``); disabling stops adds and searches at once, and the org's facts
stay erasable through ``DELETE /v1/memory/...`` until they expire."""

from __future__ import annotations

import argparse
import sys

from regiongate.contract.limits import DEFAULT_MEMORY_MAX_FACTS, DEFAULT_MEMORY_RETENTION_DAYS


def register(subparsers) -> None:
    parser = subparsers.add_parser("memory", help="enable, disable or show Memory-as-a-Service of an org")
    sub = parser.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    for name, help_text, func in (
        ("enable", "let the org's keys store and search facts (/v1/memory)", run_enable),
        ("disable", "stop the org's adds and searches (its facts stay erasable until they expire)", run_disable),
        ("status", "show the org's memory settings and how many facts it stores", run_status),
    ):
        action = sub.add_parser(name, help=help_text)
        action.add_argument("--region", required=True, help="region code (eu, us, sg, cn)")
        action.add_argument("--org", required=True, help="org id")
        action.add_argument("--config", help="path of regions.yaml (whether the region offers memory)")
        if name == "enable":
            action.add_argument(
                "--retention-days",
                type=int,
                help=f"days a fact is kept (default: the org's current setting, else {DEFAULT_MEMORY_RETENTION_DAYS})",
            )
            action.add_argument(
                "--max-facts",
                type=int,
                help=f"unexpired facts the org may store (default: its current setting, else {DEFAULT_MEMORY_MAX_FACTS})",
            )
        action.set_defaults(func=func)


def _offer(args: argparse.Namespace):
    from regiongate.config.gateway import runtime_config
    from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue

    region = load_catalogue(args.config or DEFAULT_CONFIG_PATH).region(args.region)
    return region, runtime_config(region).memory


def _stores():
    from regiongate.cli.commands.db import open_store
    from regiongate.store.memory_facts import PostgresMemoryStore

    store = open_store()
    return store, PostgresMemoryStore(store.pool)


def _print(settings, stored: int) -> None:
    state = "enabled" if settings.enabled else "disabled"
    print(
        f"org {settings.org_id}: memory {state}, retention {settings.retention_days} days, "
        f"at most {settings.max_facts} facts, {stored} stored"
    )


def run_enable(args: argparse.Namespace) -> int:
    from regiongate.common.clock import utc_now
    from regiongate.store.memory_facts import MemorySettings

    region, offer = _offer(args)
    if offer is None:
        print(
            f"regiongate memory enable: region {region.code} does not offer Memory-as-a-Service; set "
            f"regions.{region.code}.gateway.memory: {{available: true, embedding_model: <an embedding model>}} "
            "in regions.yaml and deploy",
            file=sys.stderr,
        )
        return 2
    for value, name, low, high in (
        (args.retention_days, "--retention-days", 1, 3650),
        (args.max_facts, "--max-facts", 1, 10_000_000),
    ):
        if value is not None and not low <= value <= high:
            print(f"regiongate memory enable: {name} must be {low} to {high}", file=sys.stderr)
            return 2
    store, memory = _stores()
    try:
        current = memory.settings(args.org)
        settings = MemorySettings(
            args.org,
            True,
            args.retention_days or (current.retention_days if current else DEFAULT_MEMORY_RETENTION_DAYS),
            args.max_facts or (current.max_facts if current else DEFAULT_MEMORY_MAX_FACTS),
        )
        now = utc_now()
        memory.set_settings(settings, now)
        _print(settings, memory.count(args.org, now))
        print(
            f"facts are embedded with {offer.embedding_model} and stored in region {region.code}'s database only; "
            "they are the only content regiongate stores"
        )
    finally:
        store.pool.close()
    return 0


def run_disable(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from regiongate.common.clock import utc_now

    _offer(args)  # the region must exist
    store, memory = _stores()
    try:
        current = memory.settings(args.org)
        if current is None or not current.enabled:
            print(f"org {args.org}: memory was not enabled")
            return 0
        now = utc_now()
        settings = memory.set_settings(replace(current, enabled=False), now)
        _print(settings, memory.count(args.org, now))
    finally:
        store.pool.close()
    return 0


def run_status(args: argparse.Namespace) -> int:
    from regiongate.common.clock import utc_now

    region, offer = _offer(args)
    store, memory = _stores()
    try:
        current = memory.settings(args.org)
        print(
            f"region {region.code}: "
            + (f"offers memory ({offer.embedding_model})" if offer else "does not offer Memory-as-a-Service")
        )
        if current is None:
            print(f"org {args.org}: memory never enabled")
        else:
            _print(current, memory.count(args.org, utc_now()))
    finally:
        store.pool.close()
    return 0
