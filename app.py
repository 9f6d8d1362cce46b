#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` / `npx cdk deploy Eu`. Stacks come from regions.yaml."""

import sys

from aws_cdk import App

from regiongate.config.regions import ConfigError
from regiongate.infra.app import build_app


def main() -> None:
    app = App()
    try:
        build_app(app)
    except ConfigError as exc:
        sys.exit(f"regiongate: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
