"""End to end: Claude Code itself (headless ``claude -p``) with ``ANTHROPIC_BASE_URL`` at ``regiongate serve``
and the loopback fake of Bedrock: it answers a prompt, and it uses a tool (Read) and answers from its result.

Claude Code is pinned in tests/e2e/clients/package-lock.json; ``make test`` installs it and sets
REGIONGATE_CLAUDE_CODE, under which a missing binary is a failure rather than a skip. Its non-essential traffic
is off, and any connection that is not to loopback goes to a closed loopback port (HTTPS_PROXY), so the run
never leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from regiongate.store.keys import KeyService
from tests.fixtures.fakes import FakeBedrock
from tests.fixtures.served import served_eu, store_of
from tests.paths import REPO_ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("serve-eu-claude-code")]
BINARY_VARIABLE = "REGIONGATE_CLAUDE_CODE"
DEFAULT_BINARY = REPO_ROOT / "tests" / "e2e" / "clients" / "node_modules" / ".bin" / "claude"


def claude_binary() -> Path:
    required = os.environ.get(BINARY_VARIABLE)
    binary = Path(required) if required else DEFAULT_BINARY
    if not binary.exists():
        if required:
            pytest.fail(f"{BINARY_VARIABLE}={required} does not exist: run `make test` (it installs Claude Code)")
        pytest.skip(f"Claude Code is not installed at {binary}: `npm ci --prefix tests/e2e/clients` installs it")
    return binary


@pytest.fixture(scope="module")
def bedrock():
    fake = FakeBedrock(reply="The note says hello")
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, database_url, bedrock):
    with served_eu(tmp_path_factory.mktemp("serve"), database_url, bedrock) as server:
        yield server


@pytest.fixture(scope="module")
def store(database_url):
    with store_of(database_url) as store:
        yield store


def run_claude(served, key: str, workdir: Path, prompt: str, *extra: str) -> dict:
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": served.base_url.removesuffix("/v1"),
        "ANTHROPIC_API_KEY": key,
        # The test catalogue's name (tests/fixtures/processing_area.py: the shipped EU serves Claude only by
        # explicit opt-in); Claude Code's own default model ids need not be in a region's catalogue.
        "ANTHROPIC_MODEL": "claude-sonnet-4-5",
        "ANTHROPIC_SMALL_FAST_MODEL": "claude-sonnet-4-5",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-sonnet-4-5",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    done = subprocess.run(
        [str(claude_binary()), "-p", prompt, "--output-format", "json", *extra],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(done.stdout)


def audit_rows(store, key_id: str, count: int, wait: float = 5.0) -> list:
    deadline = time.monotonic() + wait
    while True:
        with store.pool.connection() as conn:
            rows = conn.run(
                "SELECT endpoint, status, model, stream FROM audit_events WHERE key_id = :k ORDER BY created_at",
                k=key_id,
            )
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_claude_code_answers_a_prompt(served, store, bedrock, tmp_path):
    created = KeyService(store).create(region_code="eu", org_id="claude-code")
    bedrock.tool_call = None
    before = len(bedrock.requests)
    result = run_claude(served, created.key, tmp_path, "Say hello")
    assert result["is_error"] is False and result["result"] == "The note says hello"
    sent = bedrock.requests[before:]
    assert sent and all(r["path"].endswith("/invoke-with-response-stream") for r in sent)
    assert all(r["path"].startswith("/model/eu.anthropic.claude-sonnet-4-5") for r in sent)
    rows = audit_rows(store, created.record.key_id, len(sent))
    assert rows and all(row == ["messages", 200, "claude-sonnet-4-5", True] for row in rows)


def test_claude_code_uses_a_tool(served, store, bedrock, tmp_path):
    (tmp_path / "note.txt").write_text("hello from the note\n")
    key = KeyService(store).create(region_code="eu", org_id="claude-code").key
    bedrock.tool_call = {"name": "Read", "input": {"file_path": str(tmp_path / "note.txt")}}
    bedrock.answer_tool_results = True
    before = len(bedrock.requests)
    try:
        result = run_claude(served, key, tmp_path, "What does note.txt say?", "--allowedTools", "Read")
    finally:
        bedrock.tool_call, bedrock.answer_tool_results = None, False
    assert result["is_error"] is False and result["num_turns"] == 2
    assert result["result"] == "The note says hello"
    # The second model call carried Claude Code's tool result: the file, read by Claude Code on this machine.
    last = bedrock.requests[-1]["json"]["messages"][-1]["content"]
    [tool_result] = [b for b in last if b.get("type") == "tool_result"]
    assert tool_result["tool_use_id"] == "toolu_fake1" and "hello from the note" in json.dumps(tool_result)
    assert len(bedrock.requests) - before == 2
