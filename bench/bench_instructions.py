"""Instructions per request of the service's own code (`make bench`): a figure the machine's speed does not move.

Method
- `Gateway.handle` in process as in bench_gateway.handler_only (MemoryStore, an instant stub provider, audit
  events to a list), with the gateway's log lines formatted by its JSON formatter (to /dev/null, in the request's
  thread here; the served gateway formats them on its log-writer thread).
- Run under `valgrind --tool=callgrind` twice, for FEW and MANY requests, with PYTHONHASHSEED=0; the difference
  of the two instruction counts divided by MANY - FEW is the count per request (start-up and warm-up cancel out).
- CPU time on this shared 2-CPU machine moves by 15 % or more between minutes (an A/A comparison of one build
  with itself, interleaved, spread 0.87-1.18); this count repeats to within 0.01 %, so a change of a few per cent
  in the request path shows here when the CPU figures cannot show it.
Without valgrind it says so and measures nothing (exit 0: the other benchmarks still run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEW, MANY = 100, 600


def instructions(count: int) -> int:
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,  # run as a script: its folder, bench/, is on the import path, and bench_gateway with it
            "--requests",
            str(count),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no count:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def requests(count: int) -> None:
    """The measured process: ``count`` requests (and handler_only's warm-up) with the log lines formatted."""
    from regiongate.common import logs

    logs.configure("INFO", stream=open(os.devnull, "w"))  # open until the process ends
    import bench_gateway

    bench_gateway.handler_only(count)


def main() -> int:
    if sys.argv[1:2] == ["--requests"]:
        requests(int(sys.argv[2]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed here: instructions per request not measured.")
        return 0
    few, many = instructions(FEW), instructions(MANY)
    per_request = (many - few) / (MANY - FEW)
    print(
        f"- Gateway.handle with its log lines formatted (bench_gateway.handler_only, callgrind, "
        f"{MANY} - {FEW} requests): {per_request:,.0f} instructions per request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
