"""End to end: Codex itself (``codex exec``) with a model provider at ``regiongate serve`` speaking the Responses
API (``wire_api = "responses"``) and the loopback fake of Bedrock behind it: it completes one turn.

Codex is pinned in tests/e2e/clients/package-lock.json; ``make test`` installs it and sets REGIONGATE_CODEX,
under which a missing binary is a failure rather than a skip. Its hosted web search is off (it would run
outside the region, and the gateway refuses hosted tools), and any connection that is not to loopback goes
to a closed loopback port (HTTPS_PROXY), so the run never leaves the machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from regiongate.store.keys import KeyService
from tests.fixtures.fakes import FakeBedrock
from tests.fixtures.served import served_eu, store_of
from tests.paths import REPO_ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("serve-eu-codex")]
BINARY_VARIABLE = "REGIONGATE_CODEX"
DEFAULT_BINARY = REPO_ROOT / "tests" / "e2e" / "clients" / "node_modules" / ".bin" / "codex"


def codex_binary() -> Path:
    required = os.environ.get(BINARY_VARIABLE)
    binary = Path(required) if required else DEFAULT_BINARY
    if not binary.exists():
        if required:
            pytest.fail(f"{BINARY_VARIABLE}={required} does not exist: run `make test` (it installs Codex)")
        pytest.skip(f"Codex is not installed at {binary}: `npm ci --prefix tests/e2e/clients` installs it")
    return binary


@pytest.fixture
def world(tmp_path, database_url):
    bedrock = FakeBedrock(reply="Hello from the region")
    try:
        with served_eu(tmp_path, database_url, bedrock) as served:
            yield served, bedrock
    finally:
        bedrock.close()


@pytest.fixture
def store(database_url):
    with store_of(database_url, size=1) as store:
        yield store


def test_codex_exec_completes_a_turn(world, store, tmp_path):
    served, bedrock = world
    created = KeyService(store).create(region_code="eu", org_id="codex")
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".codex").mkdir(parents=True)
    work.mkdir()
    provider = "model_providers.regiongate"
    config = {
        "model_provider": '"regiongate"',
        "model": '"claude-sonnet-4-5"',
        f"{provider}.name": '"regiongate EU"',
        f"{provider}.base_url": f'"{served.base_url}"',
        f"{provider}.env_key": '"REGIONGATE_API_KEY"',
        f"{provider}.wire_api": '"responses"',
        f"{provider}.request_max_retries": "0",
        f"{provider}.stream_max_retries": "0",
        "web_search": '"disabled"',
    }
    args = [str(codex_binary()), "exec", "--skip-git-repo-check", "--disable", "multi_agent"]
    for name, value in config.items():
        args += ["-c", f"{name}={value}"]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "REGIONGATE_API_KEY": created.key,
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    done = subprocess.run(
        [*args, "Say hello"], cwd=work, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    assert done.stdout.strip() == "Hello from the region"  # the last message, on stdout
    [sent] = bedrock.requests
    assert sent["path"] == "/model/eu.anthropic.claude-sonnet-4-5-20250929-v1:0/converse-stream"
    assert sent["json"]["messages"][-1]["content"][-1]["text"] == "Say hello"
    deadline = time.monotonic() + 5
    while True:
        with store.pool.connection() as conn:
            rows = conn.run(
                "SELECT endpoint, status, model, stream, input_tokens, output_tokens FROM audit_events WHERE key_id = :k",
                k=created.record.key_id,
            )
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rows == [["responses", 200, "claude-sonnet-4-5", True, 12, 7]]
