"""`make bench`: run every benchmark script in this folder (bench_*.py) in name order.

Each script measures one thing, prints its figures as Markdown, and exits non-zero only if it could not
measure. Targets are compared and reported by the scripts; docs/benchmarks.md holds the method and the
last figures measured.
"""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    print(f"\n## {script.stem}\n", flush=True)
    if subprocess.call([sys.executable, str(script)], cwd=here.parent) != 0:
        failed.append(script.name)
if failed:
    sys.exit(f"benchmarks that could not run: {', '.join(failed)}")
