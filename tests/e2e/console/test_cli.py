"""`regiongate console-user add`, `regiongate console` and `python -m regiongate.console.runtime` as processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from regiongate.store.postgres import ConnectionParams
from tests.fixtures.console_world import ROOT, fresh_database, region_environment

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def cli_db():
    with fresh_database("cli", kind="console") as url:
        yield url


def env_with(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "REGIONGATE_", "DB_", "CONSOLE_", "DATABASE_URL"))
    }
    env.update({"PYTHONUNBUFFERED": "1", "AWS_EC2_METADATA_DISABLED": "true"})
    env.update(extra)
    return env


def regiongate(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "regiongate.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env_with(**env),
        cwd=ROOT,
        timeout=120,
    )


def users(url: str) -> list:
    conn = ConnectionParams.from_url(url).connect()
    try:
        return conn.run("SELECT email, role, org_id, region, password_hash FROM console_users ORDER BY email")
    finally:
        conn.close()


def test_console_user_add_creates_the_first_platform_admin(cli_db):
    done = regiongate(
        "console-user",
        "add",
        "--region",
        "eu",
        "--email",
        "Root@Example.com",
        stdin="a very long password\n",
        DATABASE_URL=cli_db,
    )
    assert done.returncode == 0, done.stderr
    assert "created platform_admin root@example.com" in done.stdout
    [(email, role, org, region, encoded)] = [u for u in users(cli_db) if u[0] == "root@example.com"]
    assert (role, org, region) == ("platform_admin", None, "eu")
    assert encoded.startswith("scrypt$15$") and "a very long password" not in encoded


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["--role", "org_admin"], "a very long password\n", "--org is required"),
        (["--role", "platform_admin", "--org", "acme"], "a very long password\n", "drop --org"),
        ([], "short\n", "12 to 256 characters"),
        (["--email", "not-an-email"], "a very long password\n", "e-mail address"),
    ],
)
def test_console_user_add_refuses_bad_input(cli_db, args, stdin, message):
    base = ["console-user", "add", "--region", "eu"]
    if "--email" not in args:
        base += ["--email", "someone@example.com"]
    done = regiongate(*base, *args, stdin=stdin, DATABASE_URL=cli_db)
    assert done.returncode == 2 and message in done.stderr
    assert not [u for u in users(cli_db) if u[0] == "someone@example.com"]


def test_console_user_add_twice_is_refused(cli_db):
    args = (
        "console-user",
        "add",
        "--region",
        "eu",
        "--email",
        "twice@example.com",
        "--role",
        "org_viewer",
        "--org",
        "acme",
    )
    assert regiongate(*args, stdin="a very long password\n", DATABASE_URL=cli_db).returncode == 0
    again = regiongate(*args, stdin="a very long password\n", DATABASE_URL=cli_db)
    assert again.returncode == 2 and "already exists" in again.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                out = process.stdout.read().decode(errors="replace") if process.poll() is not None else ""
                pytest.fail(f"console did not start: {out}")
            time.sleep(0.05)


@pytest.mark.parametrize("command", ["cli", "module"])
def test_console_serves_and_stops_cleanly_on_sigterm(cli_db, command):
    port = free_port()
    if command == "cli":
        args = [sys.executable, "-m", "regiongate.cli.main", "console", "--region", "eu", "--port", str(port)]
        env = env_with(DATABASE_URL=cli_db)
    else:  # as the image runs it: settings from the environment
        args = [sys.executable, "-m", "regiongate.console.runtime"]
        env = env_with(
            DATABASE_URL=cli_db, CONSOLE_PORT=str(port), PYTHONPATH=str(ROOT / "src"), **region_environment()
        )
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert json.load(response) == {"status": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
            assert response.status == 200 and b"Sign in" in response.read()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/keys")
        opener = urllib.request.build_opener(
            type("NoRedirect", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a, **k: None})
        )
        with pytest.raises(urllib.error.HTTPError, match=r"^HTTP Error 303: ") as refused:
            opener.open(request, timeout=5)
        assert refused.value.code == 303 and refused.value.headers["location"].startswith("/login")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert process.returncode == 0


@pytest.mark.parametrize(
    "missing", ["REGIONGATE_REGION_CODE", "REGIONGATE_REGION_DOCUMENT", "DB_HOST", "DB_SECRET_ARN"]
)
def test_module_names_a_missing_variable(missing):
    env = {
        **region_environment(),
        "DB_HOST": "127.0.0.1",
        "DB_NAME": "x",
        "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-central-1:111111111111:secret:regiongate/eu/audit-store-admin-AbCdEf",
    }
    env.pop(missing)
    done = subprocess.run(
        [sys.executable, "-m", "regiongate.console.runtime"],
        env=env_with(PYTHONPATH=str(ROOT / "src"), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and missing in done.stderr


def dockerfile_steps() -> list[tuple[str, str]]:
    import re

    text = re.sub(r"\\\n", " ", (ROOT / "src" / "regiongate" / "console" / "Dockerfile").read_text())
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            steps.append((keyword.upper(), rest.strip()))
    return steps


def lay_out_image(app_dir) -> None:
    """Lay out /app exactly as the Dockerfile's COPY steps do (sources from the repository root, the build context)."""
    import shutil

    app_dir.mkdir()
    for keyword, rest in dockerfile_steps():
        if keyword != "COPY":
            continue
        *sources, dest = [p for p in rest.split() if not p.startswith("--")]
        for source in sources:
            src = ROOT / source
            assert src.exists(), f"COPY {source}: no such path in the build context (the repository root)"
            target = app_dir / dest
            if src.is_dir():
                shutil.copytree(src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                if dest.endswith("/"):
                    target.mkdir(parents=True, exist_ok=True)
                    target = target / src.name
                shutil.copy(src, target)


def test_the_images_file_layout_serves_and_passes_its_healthcheck(cli_db, tmp_path):
    """Run the image's CMD in its file layout, and its HEALTHCHECK command against it."""
    app_dir = tmp_path / "app"
    lay_out_image(app_dir)
    cmd = json.loads(next(rest for keyword, rest in dockerfile_steps() if keyword == "CMD"))
    check = next(rest for keyword, rest in dockerfile_steps() if keyword == "HEALTHCHECK")
    check = json.loads(check[check.index("CMD") + 3 :].strip())
    port = free_port()
    env = env_with(DATABASE_URL=cli_db, CONSOLE_PORT=str(port), PYTHONPATH=str(app_dir), **region_environment())
    process = subprocess.Popen(
        [sys.executable, *cmd[1:]], env=env, cwd=app_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        done = subprocess.run([sys.executable, *check[1:]], env=env, timeout=30, capture_output=True)
        assert done.returncode == 0, done.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/console.css", timeout=5) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert process.returncode == 0
    failed = subprocess.run([sys.executable, *check[1:]], env=env, timeout=30, capture_output=True)
    assert failed.returncode != 0  # and the check fails when nothing answers


SYNTH_TIME_IMPORTS = ("aws_cdk", "constructs", "cdk_nag", "yaml", "regiongate.config", "regiongate.infra")


def test_the_image_carries_only_runtime_code(tmp_path):
    """No module in the image imports synth-time code (the CDK, PyYAML, regiongate.config), no construct module and
    no regions.yaml are copied, and every module copied imports with only what the image holds."""
    import ast

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
            offending += [
                f"{relative}: {name}"
                for name in names
                if name.split(".")[0] in SYNTH_TIME_IMPORTS or name.startswith(SYNTH_TIME_IMPORTS)
            ]
    assert "regiongate.console.runtime.settings" in modules and "regiongate.contract.document" in modules
    assert offending == []
    assert not list(app_dir.rglob("infrastructure.py")) and not list(app_dir.rglob("regions.yaml"))
    assert not (app_dir / "regiongate" / "config").exists() and not (app_dir / "regiongate" / "gateway").exists()
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import importlib, regiongate; assert regiongate.__file__.startswith({str(app_dir)!r}), regiongate.__file__; "
            f"[importlib.import_module(m) for m in {modules!r}]",
        ],
        env=env_with(PYTHONPATH=str(app_dir)),
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
