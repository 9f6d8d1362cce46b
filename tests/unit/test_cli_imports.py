"""Building the ``regiongate`` command line loads no CDK: every command (``serve`` included) would otherwise start
the CDK's Node process and a thread reading it, and ``serve --processes N`` may not fork a process with a thread."""

from __future__ import annotations

import subprocess
import sys


def test_the_command_line_loads_neither_the_cdk_nor_a_thread():
    code = (
        "import sys, threading\n"
        "from regiongate.cli.main import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in ('aws_cdk', 'constructs', 'jsii') if m in sys.modules), threading.active_count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["[]", "1"], out.stdout + out.stderr
