"""``regiongate console`` and ``regiongate console-user add``: the regional console, run locally.

The console app is :mod:`regiongate.console.runtime` (its own image); these commands run it in this process.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from regiongate.config.gateway import runtime_config
from regiongate.config.regions import DEFAULT_CONFIG_PATH, load_catalogue
from regiongate.contract import environment
from regiongate.contract.limits import CONSOLE_PORT


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "console",
        help="run a region's console locally (database from DATABASE_URL)",
        description="Serve the regional console (usage, spend, keys, guardrail violations) of one region against "
        "DATABASE_URL. Applies pending migrations first. Create the first account with `regiongate console-user add`.",
    )
    parser.add_argument("--region", required=True, help="region code from regions.yaml (eu, us, sg, cn)")
    parser.add_argument("--port", type=int, default=CONSOLE_PORT)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="path of regions.yaml")
    parser.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="send cookies without the Secure flag (only for plain http on a name that is not localhost/127.0.0.1)",
    )
    parser.set_defaults(func=run_console)

    users = subparsers.add_parser("console-user", help="manage console accounts of a region (DATABASE_URL)")
    sub = users.add_subparsers(dest="console_user_command", metavar="ACTION", required=True)
    add = sub.add_parser(
        "add",
        help="create a console account (e.g. the region's first platform admin)",
        description="The password is read from REGIONGATE_CONSOLE_PASSWORD, or asked for (twice) on a terminal, "
        "or read as one line from standard input.",
    )
    add.add_argument("--region", required=True, help="region code: the account works only on this region's console")
    add.add_argument("--email", required=True)
    add.add_argument("--role", choices=("platform_admin", "org_admin", "org_viewer"), default="platform_admin")
    add.add_argument("--org", help="organisation of an org_admin or org_viewer")
    add.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="path of regions.yaml")
    add.set_defaults(func=run_user_add)

    orgs = subparsers.add_parser("console-org", help="console settings of an organisation in a region (DATABASE_URL)")
    org_sub = orgs.add_subparsers(dest="console_org_command", metavar="ACTION", required=True)
    settings = org_sub.add_parser(
        "settings",
        help="show or change how an organisation's users sign in to the console",
        description="Without --password-sign-in, shows the settings. --password-sign-in off: the org's users sign "
        "in by single sign-on only (regions.yaml console_oidc); a password sign-in is refused, pointing at SSO.",
    )
    settings.add_argument("--region", required=True, help="region code: the console of this region")
    settings.add_argument("--org", required=True, help="organisation id")
    settings.add_argument("--password-sign-in", choices=("on", "off"), help="allow password sign-in or not")
    settings.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="path of regions.yaml")
    settings.set_defaults(func=run_org_settings)


def _settings(args: argparse.Namespace, port: int = CONSOLE_PORT, host: str = "127.0.0.1"):
    from dataclasses import replace

    from regiongate.console.runtime.settings import ConsoleSettings, SettingsError

    # The CLI composes what the stack gives the task in ECS: the region document (from regions.yaml here) and
    # the database, in the same variables, read by the same code.
    document = runtime_config(load_catalogue(args.config).region(args.region))
    if not os.environ.get(environment.DATABASE_URL):
        print("regiongate: set DATABASE_URL (postgresql://user:password@host:port/db)", file=sys.stderr)
        raise SystemExit(2)
    env = {
        **environment.console_environment(region=document, database={}),
        environment.DATABASE_URL: os.environ[environment.DATABASE_URL],
        environment.CONSOLE_LISTEN_PORT: str(port),
    }
    try:
        settings = ConsoleSettings.from_env(env)
    except SettingsError as exc:
        print(f"regiongate: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return replace(settings, host=host)


def run_console(args: argparse.Namespace) -> int:
    from dataclasses import replace

    settings = _settings(args, args.port, args.host)
    if args.insecure_cookies:
        settings = replace(settings, secure_cookies=False)
    import logging

    from regiongate.console.runtime.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    return serve(settings)


def _password() -> str:
    if os.environ.get("REGIONGATE_CONSOLE_PASSWORD"):
        return os.environ["REGIONGATE_CONSOLE_PASSWORD"]
    if sys.stdin.isatty():
        first = getpass.getpass("Password (12 to 256 characters): ")
        if getpass.getpass("Again: ") != first:
            print("regiongate console-user add: the passwords differ", file=sys.stderr)
            raise SystemExit(2)
        return first
    return sys.stdin.readline().rstrip("\r\n")


def run_user_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from regiongate.console.runtime.auth import Accounts, AuthError
    from regiongate.console.runtime.server import open_store

    if args.role != "platform_admin" and not args.org:
        print("regiongate console-user add: --org is required for org_admin and org_viewer", file=sys.stderr)
        return 2
    if args.role == "platform_admin" and args.org:
        print("regiongate console-user add: a platform admin sees every org of the region; drop --org", file=sys.stderr)
        return 2
    password = _password()
    store = open_store(settings, pool_size=1)
    try:
        store.migrate()
        user = Accounts(store.pool, settings.region.code).create_user(
            email=args.email, password=password, role=args.role, org_id=args.org, created_by="cli"
        )
    except AuthError as exc:
        print(f"regiongate console-user add: {exc}", file=sys.stderr)
        return 2
    finally:
        store.pool.close()
    print(
        f"created {user.role} {user.email} ({user.user_id}) in region {settings.region.code}"
        + (f", org {user.org_id}" if user.org_id else "")
    )
    return 0


def run_org_settings(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from regiongate.console.runtime.auth import Accounts, AuthError, check_org_id
    from regiongate.console.runtime.hygiene import Hygiene
    from regiongate.console.runtime.server import open_store

    try:
        check_org_id(args.org)
    except AuthError as exc:
        print(f"regiongate console-org settings: {exc}", file=sys.stderr)
        return 2
    region = load_catalogue(args.config).region(args.region)
    store = open_store(settings, pool_size=1)
    try:
        store.migrate()
        hygiene = Hygiene(Accounts(store.pool, settings.region.code))
        if args.password_sign_in is not None:
            hygiene.set_password_sign_in(args.org, args.password_sign_in == "on", by="cli")
        enabled = hygiene.password_sign_in(args.org)
    finally:
        store.pool.close()
    print(f"org {args.org} in region {settings.region.code}: password sign-in {'on' if enabled else 'off'}")
    if not enabled and region.console_oidc is None:
        print(
            f"regiongate: warning: region {args.region} has no console_oidc in {args.config}: the org's users "
            "cannot sign in to the console at all until single sign-on is configured",
            file=sys.stderr,
        )
    return 0
