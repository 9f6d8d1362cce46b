"""Runs ``regiongate serve`` as a subprocess against loopback fakes (for the end-to-end tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .conftest import _AWS_VARS


class Served:
    def __init__(self, tmp: Path, database_url: str, upstreams: dict[str, str], region: str = "eu",
                 extra_env: dict[str, str] | None = None) -> None:
        self.log_path = tmp / f"serve-{region}.log"
        env = {k: v for k, v in os.environ.items() if k not in _AWS_VARS and not k.startswith("REGIONGATE_PROVIDER_")}
        env.update({"DATABASE_URL": database_url, "AWS_EC2_METADATA_DISABLED": "true", "PYTHONUNBUFFERED": "1",
                    "AWS_CONFIG_FILE": str(tmp / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none")})
        env.update(extra_env or {})
        args = [sys.executable, "-m", "regiongate.cli", "serve", "--region", region, "--port", "0"]
        for name, url in upstreams.items():
            args += ["--upstream", f"{name}={url}"]
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                        cwd=Path(__file__).resolve().parents[2])
        deadline = time.monotonic() + 60
        while True:
            text = self.log_path.read_text(errors="replace")
            match = re.search(r"gateway on (http://127\.0\.0\.1:\d+/v1)", text)
            if match:
                self.base_url = match.group(1)
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"regiongate serve did not start:\n{text}")
            time.sleep(0.05)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
