"""The package works installed the ordinary (non-editable) way: the CDK app synthesizes from an operator's
project directory with code, SQL migrations and console templates taken from the installed package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT

pytestmark = pytest.mark.xdist_group("installed-package")

SYNTH = """
import json, sys
from pathlib import Path
import regiongate
from aws_cdk import App
from regiongate.infra.app import build_app, cdk_json_context
from regiongate.console.runtime import app as console_app
from regiongate.store import migrate
app = App(outdir="cdk.out", context={**cdk_json_context(), "stacks": "Eu"})
build_app(app)
app.synth()
staged = Path("cdk.out/regiongate-build/functions/regiongate")
print(json.dumps({
    "package": regiongate.__file__,
    "migrations": [version for version, _, _ in migrate.migrations()],
    "templates": sorted(p.name for p in console_app.HERE.joinpath("templates").glob("*.html")),
    "handler": staged.joinpath("gateway/runtime/handler.py").is_file(),
    "template": Path("cdk.out/Eu.template.json").is_file(),
}))
"""


def test_synth_from_a_project_directory_with_the_package_installed_non_editable(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-compile",
            "--target",
            str(target),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert not list(target.glob("__editable__*")) and (target / "regiongate" / "store" / "migrations").is_dir()
    project = tmp_path / "project"
    project.mkdir()
    for name in ("regions.yaml", "images.lock.yaml", "cdk.json"):
        shutil.copy(REPO_ROOT / name, project / name)
    shutil.copytree(REPO_ROOT / "tenants", project / "tenants")
    (project / "build").mkdir()
    (project / "build" / "lambda-deps").symlink_to(REPO_ROOT / "build" / "lambda-deps")
    env = {**os.environ, "PYTHONPATH": str(target)}  # first on the path: ahead of the editable checkout
    done = subprocess.run(
        [sys.executable, "-c", SYNTH], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["package"].startswith(str(target))
    assert result["migrations"] == list(range(1, len(result["migrations"]) + 1)) and result["migrations"]
    assert "dashboard.html" in result["templates"] and "login.html" in result["templates"]
    assert result["handler"] and result["template"]
