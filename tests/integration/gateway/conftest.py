"""Fixtures: PostgreSQL per worker, loopback fake providers (tests/fixtures/gateway_db.py), the CLI on that database."""

import pytest

from regiongate.cli.main import main
from tests.fixtures.gateway_db import *  # noqa: F403


@pytest.fixture
def cli(monkeypatch, database_url, pg_store, capsys):
    """``regiongate`` in process against the test database: ``cli(*argv) -> (exit code, stdout, stderr)``."""
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
