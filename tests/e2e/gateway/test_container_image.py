"""The gateway container (gateway.runtime: container) without a Docker engine: src/regiongate/gateway/Dockerfile is
parsed for what must always hold, /app is laid out exactly as its COPY steps do, and its CMD is started from that
layout as a subprocess, against PostgreSQL, a loopback fake upstream and a loopback fake SQS endpoint, and called
with the official ``openai`` client: tokens arrive before the answer ends, audit events reach the queue, a queue
outage is buffered and then refused with 503 (nothing answered is lost), SIGTERM lets an in-flight stream finish.

Assertions are on the order of events (a fake upstream that pauses on a gate), never on elapsed time."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace

import openai
import pytest

from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.contract.limits import GATEWAY_PORT
from regiongate.gateway.container_infrastructure import COMMAND, HEALTH_PATH
from tests.e2e.gateway.test_asgi_server import EndlessOpenAI
from tests.fixtures.fake_sqs import FakeSqs
from tests.fixtures.gateway import new_key
from tests.fixtures.registries import free_port
from tests.paths import REPO_ROOT

GATEWAY = REPO_ROOT / "src" / "regiongate" / "gateway"
SYNTH_TIME_IMPORTS = ("aws_cdk", "constructs", "cdk_nag", "yaml", "regiongate.config", "regiongate.infra")
MODEL = "gpt-4o"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (GATEWAY / "Dockerfile").read_text())
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            steps.append((keyword.upper(), rest.strip()))
    return steps


def lay_out_image(app_dir) -> None:
    """/app exactly as the Dockerfile's COPY steps lay it out (sources from the repository root, the context)."""
    app_dir.mkdir()
    for keyword, rest in instructions():
        if keyword != "COPY":
            continue
        *sources, dest = [p for p in rest.split() if not p.startswith("--")]
        for source in sources:
            src = REPO_ROOT / source
            assert src.exists(), f"COPY {source}: no such path in the build context (the repository root)"
            target = app_dir / dest
            if src.is_dir():
                shutil.copytree(src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                if dest.endswith("/"):
                    target.mkdir(parents=True, exist_ok=True)
                    target = target / src.name
                shutil.copy(src, target)


def _json_form(keyword: str) -> list[str]:
    rest = next(rest for k, rest in instructions() if k == keyword)
    return json.loads(rest[rest.index("CMD") + 3 :].strip() if keyword == "HEALTHCHECK" else rest)


def image_command() -> list[str]:
    """The image's CMD, with this interpreter (which has the image's pinned packages) as its ``python``."""
    command = _json_form("CMD")
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


# --- the Dockerfile ------------------------------------------------------------------------------------------


def test_base_image_is_a_pinned_slim_python_like_the_consoles():
    froms = [rest.split()[0] for keyword, rest in instructions() if keyword == "FROM"]
    assert len(froms) == 1
    # An exact patch release, pinned by the digest of its multi-arch index (a tag alone can be re-pointed).
    assert re.fullmatch(r"(docker\.io/library/)?python:\d+\.\d+\.\d+-slim(-[a-z]+)?@sha256:[0-9a-f]{64}", froms[0])
    console = (REPO_ROOT / "src" / "regiongate" / "console" / "Dockerfile").read_text()
    assert f"\nFROM {froms[0]}\n" in console  # one base to inspect, pin and patch


def test_runs_as_a_non_root_user_after_every_build_step():
    steps = instructions()
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, (k, _) in enumerate(steps) if k == "USER")
    assert not [k for k, _ in steps[last_user:] if k in ("RUN", "COPY", "ADD")]


def test_cmd_is_exactly_the_entry_point_the_task_definition_and_these_tests_run():
    assert _json_form("CMD") == list(COMMAND)


def test_healthcheck_probes_the_health_path_on_the_contracts_port():
    steps = instructions()
    checks = [rest for keyword, rest in steps if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and HEALTH_PATH in checks[0] and f"'{GATEWAY_PORT}'" in checks[0]
    assert ("EXPOSE", str(GATEWAY_PORT)) in steps
    env = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    assert f"GATEWAY_PORT={GATEWAY_PORT}" in env.split()


def test_no_build_time_downloads_beyond_the_package_registry_and_every_pin_is_exact():
    for keyword, rest in instructions():
        assert keyword != "ADD", "ADD can fetch URLs; use COPY"
        if keyword == "RUN":
            assert not re.search(r"\b(curl|wget)\b|https?://", rest), rest
    pins = [
        line.strip()
        for line in (GATEWAY / "container-requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", pin) for pin in pins), pins
    # The direct dependencies are the versions the tests run (requirements.txt).
    project = {
        line.split("==")[0].lower(): line.strip()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for name in ("uvicorn", "pg8000", "boto3"):
        assert next(p for p in pins if p.lower().startswith(name + "==")) == project[name]


def test_every_copied_path_exists_and_the_context_sends_exactly_those():
    copied = []
    for keyword, rest in instructions():
        if keyword == "COPY":
            *sources, _ = [p for p in rest.split() if not p.startswith("--")]
            copied += sources
    for source in copied:
        assert (REPO_ROOT / source).exists(), source
    ignore = (GATEWAY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert "*" in ignore
    assert set(copied) == allowed


def test_the_image_carries_only_runtime_code_and_every_module_imports(tmp_path):
    app_dir = tmp_path / "app"
    lay_out_image(app_dir)
    modules, offending = [], []
    for path in sorted((app_dir / "regiongate").rglob("*.py")):
        relative = path.relative_to(app_dir).with_suffix("")
        modules.append(".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offending += [f"{relative}: {n}" for n in names if n.startswith(SYNTH_TIME_IMPORTS)]
    assert "regiongate.gateway.runtime.container" in modules and "regiongate.audit.runtime.queue" in modules
    assert offending == []
    assert not list(app_dir.rglob("infrastructure.py")) and not list(app_dir.rglob("*_infrastructure.py"))
    assert not list(app_dir.rglob("regions.yaml")) and not (app_dir / "regiongate" / "config").exists()
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import importlib, regiongate; assert regiongate.__file__.startswith({str(app_dir)!r}); "
            f"[importlib.import_module(m) for m in {modules!r}]",
        ],
        env={**os.environ, "PYTHONPATH": str(app_dir)},
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr


# --- the entry point, started from the image's layout ---------------------------------------------------------


@pytest.fixture(scope="module")
def image_app(tmp_path_factory):
    app_dir = tmp_path_factory.mktemp("gateway-image") / "app"
    lay_out_image(app_dir)
    return app_dir


@pytest.fixture
def sqs():
    fake = FakeSqs()
    yield fake
    fake.close()


@pytest.fixture
def upstream(azure):
    azure.reply = "one two three four"
    return azure


def _document(eu_runtime, upstream) -> str:
    """The eu document served by one loopback openai_compatible provider (processing stays on the machine)."""
    runtime = replace(
        eu_runtime,
        providers={"fake": ProviderEntry(name="fake", type="openai_compatible", base_url=upstream.url + "/v1")},
        models={
            MODEL: ModelEntry(
                name=MODEL,
                provider="fake",
                target="up",
                kind="chat",
                input_usd_per_mtok=eu_runtime.models[MODEL].input_usd_per_mtok,
                output_usd_per_mtok=eu_runtime.models[MODEL].output_usd_per_mtok,
            )
        },
        allowed_hosts=(),
        max_generation_seconds=30,
        # Only the one chat model is served here, so the region's memory offer (its embedding model) is not.
        memory=None,
    )
    return runtime.to_json()


class Container:
    def __init__(self, process: subprocess.Popen, port: int, output) -> None:
        self.process = process
        self.port = port
        self.output = output
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=30)

    def log(self) -> str:
        self.output.seek(0)
        return self.output.read().decode(errors="replace")


@contextlib.contextmanager
def running(image_app, tmp_path, database_url, eu_runtime, upstream, sqs, **extra: str):
    credentials = tmp_path / "providers.json"
    credentials.write_text(json.dumps({"fake": {"api_key": "upstream-key"}}))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(image_app),
        "REGIONGATE_REGION_CODE": "eu",
        "REGIONGATE_REGION_DOCUMENT": _document(eu_runtime, upstream),
        "GATEWAY_PORT": str(port),
        "DATABASE_URL": database_url,
        "AUDIT_QUEUE_URL": sqs.queue_url,
        "REGIONGATE_PROVIDER_CREDENTIALS_FILE": str(credentials),
        # The production SQS client, pointed at the loopback fake; fake credentials sign the requests.
        "AWS_ENDPOINT_URL_SQS": sqs.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **extra,
    }
    output = (tmp_path / "container.log").open("w+b")
    process = subprocess.Popen(image_command(), env=env, cwd=image_app, stdout=output, stderr=subprocess.STDOUT)
    container = Container(process, port, output)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert json.load(response)["status"] == "ok"
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the container did not start:\n{container.log()}")
                time.sleep(0.05)
        yield container
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output.close()


def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def chat(client: openai.OpenAI, **kwargs):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], **kwargs)


def test_the_images_healthcheck_passes_against_the_entry_point_and_fails_without_it(
    image_app, tmp_path, database_url, eu_runtime, upstream, sqs
):
    check = _json_form("HEALTHCHECK")
    assert check[0] == "python"
    with running(image_app, tmp_path, database_url, eu_runtime, upstream, sqs) as container:
        env = {**os.environ, "GATEWAY_PORT": str(container.port)}
        done = subprocess.run([sys.executable, *check[1:]], env=env, timeout=30, capture_output=True)
        assert done.returncode == 0, done.stderr
    assert container.process.returncode == 0  # SIGTERM is a clean exit
    failed = subprocess.run([sys.executable, *check[1:]], env=env, timeout=30, capture_output=True)
    assert failed.returncode != 0


def test_streams_tokens_before_the_answer_ends_and_audits_through_the_queue(
    image_app, tmp_path, database_url, eu_runtime, upstream, sqs, pg_store
):
    key = new_key(pg_store)
    upstream.gate = threading.Event()  # the upstream pauses after its first word
    with running(image_app, tmp_path, database_url, eu_runtime, upstream, sqs) as container:
        stream = chat(container.client(key), stream=True, stream_options={"include_usage": True})
        words = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                words.append(chunk.choices[0].delta.content)
                break
        assert words == ["one"]  # the first token reached the client while the upstream still holds the rest
        assert sqs.events() == []  # and the request is not over yet
        upstream.gate.set()
        rest = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
        assert "".join(words + rest) == "one two three four"
        wait_until(lambda: len(sqs.events()) == 1, "the stream's audit event in the queue")
    (event,) = sqs.events()
    assert event["status"] == 200 and event["stream"] is True and event["model"] == MODEL
    assert (event["input_tokens"], event["output_tokens"]) == upstream.usage
    assert not upstream.gate_timed_out
    # The event is metadata only: no prompt, no completion.
    assert "Hi" not in json.dumps(event) and "three" not in json.dumps(event)


def test_a_queue_outage_is_buffered_then_refused_with_503_and_nothing_answered_is_lost(
    image_app, tmp_path, database_url, eu_runtime, upstream, sqs, pg_store
):
    key = new_key(pg_store)
    with running(
        image_app, tmp_path, database_url, eu_runtime, upstream, sqs, REGIONGATE_AUDIT_BUFFER_EVENTS="3"
    ) as container:
        client = container.client(key)
        sqs.available = False
        answered = [chat(client).choices[0].message.content for _ in range(3)]
        assert answered == ["one two three four"] * 3  # kept in the buffer while the queue is down
        wait_until(lambda: sqs.refused_calls > 0, "the sink to try the queue")
        with pytest.raises(openai.APIStatusError, match="audit store is unreachable") as refused:
            chat(client)
        assert refused.value.status_code == 503
        assert refused.value.body["type"] == "audit_unavailable"
        assert sqs.events() == []
        sqs.available = True  # the queue is back: the buffered events go, and requests are served again
        wait_until(lambda: len(sqs.events()) == 3, "the buffered events to reach the queue")
        served: list[str] = []

        def served_again() -> bool:
            # The fake queue records the events before the sink has read its answer and freed their room: for
            # that moment the buffer is still full, and a request is refused (with no event), never lost.
            try:
                served.append(chat(client).choices[0].message.content)
                return True
            except openai.APIStatusError as exc:
                assert exc.status_code == 503 and exc.body["type"] == "audit_unavailable"
                return False

        wait_until(served_again, "requests to be served again once the buffer has drained")
        assert served == ["one two three four"]
        wait_until(lambda: len(sqs.events()) == 4, "the next event")
    events = sqs.events()
    assert [e["status"] for e in events] == [200] * 4  # requests answered == events in the queue
    assert len({e["request_id"] for e in events}) == 4


def test_sigterm_stops_accepting_lets_the_stream_in_flight_finish_and_hands_on_its_event(
    image_app, tmp_path, database_url, eu_runtime, upstream, sqs, pg_store
):
    key = new_key(pg_store)
    upstream.gate = threading.Event()
    with running(image_app, tmp_path, database_url, eu_runtime, upstream, sqs) as container:
        stream = chat(container.client(key), stream=True, stream_options={"include_usage": True})
        first = next(c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content)
        assert first == "one"
        container.process.send_signal(signal.SIGTERM)  # as ECS does, after the target drained

        def refusing() -> bool:
            with contextlib.closing(socket.socket()) as probe:
                return probe.connect_ex(("127.0.0.1", container.port)) != 0

        wait_until(refusing, "the server to stop accepting connections")
        assert container.process.poll() is None  # still running: the stream is in flight
        upstream.gate.set()
        rest = "".join(c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content)
        assert first + rest == "one two three four"
        assert container.process.wait(timeout=60) == 0
    (event,) = sqs.events()  # handed on before the process exited
    assert event["status"] == 200 and event["output_tokens"] == upstream.usage[1]


def test_a_client_disconnect_mid_stream_stops_the_upstream_and_its_event_carries_499_and_the_tokens_relayed(
    image_app, tmp_path, database_url, eu_runtime, sqs, pg_store
):
    key = new_key(pg_store)
    # The in-process server's disconnect test's upstream: one word, then it waits for its gate, then words until
    # the gateway hangs up (EOF or a failed write), recording that it did.
    upstream = EndlessOpenAI()
    try:
        with running(image_app, tmp_path, database_url, eu_runtime, upstream, sqs) as container:
            stream = chat(container.client(key), stream=True)
            first = next(c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content)
            assert first == "w0"
            stream.close()  # the client goes away mid-answer
            upstream.gate.set()
            assert upstream.ended.wait(timeout=60), "the upstream never saw the end of its stream"
            assert upstream.closed_by_gateway and upstream.sent < upstream.limit  # the gateway hung up on it
            wait_until(lambda: len(sqs.events()) == 1, "the cut stream's audit event in the queue")
            assert container.process.poll() is None  # the disconnect cost a request, not the server
    finally:
        upstream.gate.set()
        upstream.close()
    (event,) = sqs.events()
    assert (event["status"], event["error_type"], event["stream"]) == (499, "client_closed_request", True)
    # Usage never came (the stream was cut): the prompt's estimate and one token per delta relayed so far.
    assert event["input_tokens"] >= 1 and 1 <= event["output_tokens"] <= upstream.sent
    assert float(event["cost_usd"]) > 0


def container_env(image_app, eu_runtime, upstream, sqs) -> dict[str, str]:
    """The task's environment for the image's entry point, with a database that is never reached."""
    return {
        **os.environ,
        "PYTHONPATH": str(image_app),
        "REGIONGATE_REGION_CODE": "eu",
        "REGIONGATE_REGION_DOCUMENT": _document(eu_runtime, upstream),
        "DATABASE_URL": "postgresql://nobody:none@127.0.0.1:1/none",
        "AUDIT_QUEUE_URL": sqs.queue_url,
    }


@pytest.mark.parametrize("missing", ["REGIONGATE_REGION_DOCUMENT", "AUDIT_QUEUE_URL"])
def test_a_missing_variable_exits_2_naming_it(image_app, eu_runtime, upstream, sqs, missing):
    env = container_env(image_app, eu_runtime, upstream, sqs)
    del env[missing]
    done = subprocess.run(image_command(), env=env, cwd=image_app, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and missing in done.stderr
