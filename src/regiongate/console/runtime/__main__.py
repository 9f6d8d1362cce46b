"""``python -m regiongate.console.runtime``: the console as the ECS task runs it (settings from the environment)."""

from __future__ import annotations

import logging
import sys

from regiongate.console.runtime.server import serve
from regiongate.console.runtime.settings import ConsoleSettings, SettingsError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    try:
        settings = ConsoleSettings.from_env()
    except SettingsError as exc:
        print(f"regiongate console: {exc}", file=sys.stderr, flush=True)
        return 2
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
