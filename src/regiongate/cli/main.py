"""The ``regiongate`` command line. Subcommands live in :mod:`regiongate.cli.commands`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from regiongate import __version__
from regiongate.cli import commands
from regiongate.config.regions import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regiongate",
        description="Region-isolated LLM API gateway: synthesize, run and inspect regiongate deployments.",
    )
    parser.add_argument("--version", action="version", version=f"regiongate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"regiongate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
