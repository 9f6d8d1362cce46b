"""console/Dockerfile, checked without a Docker engine (none runs on the build machines): its instructions
are parsed for what must always hold, and the placeholder app is run with the image's exact HEALTHCHECK."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.fixtures.console_world import region_environment
from tests.fixtures.registries import free_port
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT
CONSOLE = ROOT / "src" / "regiongate" / "console"


def instructions() -> list[tuple[str, str]]:
    text = (CONSOLE / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_base_image_is_a_pinned_slim_python() -> None:
    froms = [rest for keyword, rest in instructions() if keyword == "FROM"]
    assert len(froms) == 1
    image = froms[0].split()[0]
    assert re.fullmatch(r"(docker\.io/library/)?python:\d+\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image), (
        image
    )


def test_runs_as_a_non_root_user() -> None:
    steps = instructions()
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users, "no USER instruction"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    last_user = max(i for i, (k, _) in enumerate(steps) if k == "USER")
    assert not [k for k, _ in steps[last_user:] if k in ("RUN", "COPY", "ADD")], (
        "build steps after USER run as that user"
    )


def test_healthcheck_probes_healthz_on_8081() -> None:
    checks = [rest for keyword, rest in instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0] and "8081" in checks[0]
    assert ("EXPOSE", "8081") in instructions()


def test_no_build_time_downloads_beyond_package_registries() -> None:
    for keyword, rest in instructions():
        assert keyword != "ADD", "ADD can fetch URLs; use COPY"
        if keyword == "RUN":
            assert not re.search(r"\b(curl|wget)\b|https?://", rest), rest


def test_every_copied_path_exists() -> None:
    for keyword, rest in instructions():
        if keyword == "COPY":
            *sources, _ = [p for p in rest.split() if not p.startswith("--")]
            for source in sources:
                # The image is built with the repository root as context (`docker build -f src/regiongate/console/Dockerfile .`).
                assert (ROOT / source).exists(), source


def _healthcheck_command() -> list[str]:
    rest = next(rest for keyword, rest in instructions() if keyword == "HEALTHCHECK")
    return json.loads(rest[rest.index("CMD") + 3 :].strip())


def test_console_app_passes_the_images_healthcheck() -> None:
    if not os.environ.get("DATABASE_URL"):
        pytest.skip("the console needs its database: run through `make test`, which sets DATABASE_URL")
    port = free_port()
    env = {
        **os.environ,
        "CONSOLE_PORT": str(port),
        **region_environment(),
        "PYTHONPATH": str(ROOT / "src"),
    }
    app = subprocess.Popen(
        [sys.executable, "-m", "regiongate.console.runtime"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    assert json.load(response) == {"status": "ok"}
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"console did not start: {app.stdout.read1() if app.poll() is not None else ''}")
                time.sleep(0.05)
        command = _healthcheck_command()
        assert command[0] == "python"
        check = subprocess.run([sys.executable, *command[1:]], env=env, timeout=10, capture_output=True)
        assert check.returncode == 0, check.stderr
    finally:
        app.terminate()
        app.wait(timeout=10)
    assert app.returncode == 0  # SIGTERM (how ECS stops a task) is a clean exit
    # and the same check fails when nothing answers:
    failed = subprocess.run([sys.executable, *_healthcheck_command()[1:]], env=env, timeout=10, capture_output=True)
    assert failed.returncode != 0


def test_the_images_port_is_the_contracts() -> None:
    """A Dockerfile cannot import the constant: this ties its port to the one the task definition and ALB use."""
    from regiongate.contract.limits import CONSOLE_PORT

    steps = instructions()
    assert ("EXPOSE", str(CONSOLE_PORT)) in steps
    env = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    assert f"CONSOLE_PORT={CONSOLE_PORT}" in env.split()
    assert f"'{CONSOLE_PORT}'" in next(rest for keyword, rest in steps if keyword == "HEALTHCHECK")
