"""Synthesis time as tenants accumulate (issue: single-tenant provisioning, "Scale").

Method: generate N tenant files with `regiongate.config.tenants.new_tenant_file` (cycling through every row of the
single-tenant region table, China included) into a temporary directory, then time what a solutions engineer
runs, `npx cdk synth --quiet`, with `-c tenants_dir=<that directory>`, into a fresh output directory:

- the whole app (4 region stacks + N tenant stacks) for N = 0, 10, 50, 100, twice each;
- one selected tenant among 100 (`-c stacks=Tenant-bench050`), three times;
- where the time goes at N = 100, in-process: constructing the stacks, then `app.synth()` with and without
  the CDK's built-in CloudFormation validation (cdk-nag and the residency pack run in both).

Targets (2-core machine): 100 tenants < 60 s, growth linear, one selected tenant < 10 s regardless of count.
The machine may be shared (other test runs): each wall-clock figure is reported as the best and the median
of its runs, with the 1-minute load average seen before the runs, and beside it the CPU seconds of the run
(user + system of every process: npx, the CDK CLI, python and its jsii node runtime), which other processes
disturb much less. Time targets are judged on the best wall-clock run; linearity on a least-squares line
through the CPU seconds. Exit status is non-zero only if something could not be measured (a synth that
reports validation findings still wrote its templates and is measured; the findings are reported).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

COUNTS = (0, 10, 50, 100)
SELECTED = "Tenant-bench050"
SELECTED_RUNS = 3
ALL_RUNS = 2
TARGET_ALL_S = 60.0
TARGET_SELECTED_S = 10.0
# Growth counts as linear when a straight line through the CPU seconds of 0, 10, 50 and 100 tenants explains
# them (coefficient of determination at least this); the per-step slopes are printed beside it.
LINEAR_R2 = 0.98
SUPERLINEAR_TOLERANCE = 1.25
CREDENTIALS = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def generate(directory: Path, count: int) -> None:
    from regiongate.config import tenants
    from regiongate.config.regions import load_catalogue

    catalogue = load_catalogue()
    regions = [row.aws_region for row in catalogue.single_tenant_regions]
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        # Each customer in an account of its own, as single-tenant customers are (China tenants must be: their
        # console's image repository exists once per account and region).
        path, text = tenants.new_tenant_file(
            catalogue, directory, f"bench{i:03d}", aws_region=regions[i % len(regions)], account=f"{900000000000 + i}"
        )
        path.write_text(text)


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    env.update(extra)
    return env


def cdk_synth(tenants_dir: Path, out: Path, *context: str) -> tuple[float, int, int, float]:
    """Wall seconds, exit status, number of stack templates and CPU seconds (every process of the run:
    npx, the CDK CLI, python app.py and its jsii node runtime) of one `npx cdk synth --quiet`."""
    command = ["npx", "cdk", "synth", "--quiet", "-o", str(out), "-c", f"tenants_dir={tenants_dir}"]
    for value in context:
        command += ["-c", value]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=environment(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    templates = len(list(out.glob("*.template.json"))) if out.is_dir() else 0
    if templates == 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit(f"bench_synth_scale: `{' '.join(command)}` wrote no template (exit {result.returncode})")
    return seconds, result.returncode, templates, cpu


def phases(tenants_dir: Path, out: Path, validation: bool) -> dict[str, float]:
    """Construct and synthesize in a fresh process; seconds per phase."""
    code = f"""
import json, time
start = time.perf_counter()
from aws_cdk import App
from regiongate.infra.app import build_app, cdk_json_context
imported = time.perf_counter()
app = App(outdir={str(out)!r}, context={{**cdk_json_context(), "tenants_dir": {str(tenants_dir)!r}}})
build_app(app)
built = time.perf_counter()
try:
    app.synth()
except RuntimeError as exc:
    if "Validation failed" not in str(exc):
        raise
done = time.perf_counter()
print(json.dumps({{"import": imported - start, "construct": built - imported, "synth": done - built}}))
"""
    extra = {} if validation else {"CDK_VALIDATION": "false"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environment(**extra), capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def fit(points: list[tuple[int, float]]) -> tuple[float, float, float]:
    """Slope, intercept and R² of the least-squares line through ``points``."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for _, y in points)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in points)
    return slope, intercept, 1 - residual / total if total else 1.0


def load() -> float:
    return os.getloadavg()[0]


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="regiongate-bench-synth-") as tmp:
        root = Path(tmp)
        for count in COUNTS:
            directory = root / f"tenants-{count}"
            generate(directory, count)
            before = load()
            runs = [cdk_synth(directory, root / f"out-{count}-{run}") for run in range(ALL_RUNS)]
            rows.append((count, runs[0][2], [r[0] for r in runs], [r[1] for r in runs], before, [r[3] for r in runs]))
            print(
                f"  measured: {count} tenants: {', '.join(f'{r[0]:.1f}' for r in runs)} s (load {before:.1f})",
                file=sys.stderr,
                flush=True,
            )

        before_selected = load()
        selected = []
        for run in range(SELECTED_RUNS):
            seconds, status, templates, cpu = cdk_synth(
                root / "tenants-100", root / f"out-selected-{run}", f"stacks={SELECTED}"
            )
            if templates != 1:
                raise SystemExit(f"bench_synth_scale: selecting {SELECTED} wrote {templates} templates, expected 1")
            selected.append((seconds, status, cpu))
            print(f"  measured: {SELECTED} among 100, {seconds:.1f} s (exit {status})", file=sys.stderr, flush=True)

        before_phases = load()
        with_validation = phases(root / "tenants-100", root / "out-phases-1", validation=True)
        without_validation = phases(root / "tenants-100", root / "out-phases-2", validation=False)

    print(
        "| tenant stacks | stacks synthesized | wall, best (s) | wall, median (s) | CPU, best (s) | load before | exit |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count, templates, seconds, statuses, before, cpus in rows:
        print(
            f"| {count} | {templates} | {min(seconds):.1f} | {statistics.median(seconds):.1f} | {min(cpus):.1f} | "
            f"{before:.1f} | {', '.join(map(str, statuses))} |"
        )
    selected_seconds = [s for s, _, _ in selected]
    print(
        f"| 1 selected of 100 (`-c stacks={SELECTED}`) | 1 | {min(selected_seconds):.1f} | "
        f"{statistics.median(selected_seconds):.1f} | {min(c for *_, c in selected):.1f} | {before_selected:.1f} | "
        f"{', '.join(str(s) for _, s, _ in selected)} |"
    )

    best = [(count, min(seconds)) for count, _, seconds, *_ in rows]
    cpu_best = [(count, min(cpus)) for count, *_, cpus in rows]
    steps = [(c0, c1, (s1 - s0) / (c1 - c0)) for (c0, s0), (c1, s1) in zip(best, best[1:])]
    cpu_steps = [(c0, c1, (s1 - s0) / (c1 - c0)) for (c0, s0), (c1, s1) in zip(cpu_best, cpu_best[1:])]
    print()
    print(
        "Seconds per added tenant stack, wall (best runs): "
        + ", ".join(f"{c0}→{c1}: {per:.2f}" for c0, c1, per in steps)
    )
    print()
    print(
        "Seconds per added tenant stack, CPU (best runs): "
        + ", ".join(f"{c0}→{c1}: {per:.2f}" for c0, c1, per in cpu_steps)
    )
    print()
    print(
        f"Where the time goes at 100 tenants (in-process, a fresh process each, load before {before_phases:.1f}; seconds):"
    )
    print()
    print("| run | import | construct 104 stacks | app.synth() |")
    print("|---|---:|---:|---:|")
    for name, figures in (
        ("built-in CloudFormation validation + cdk-nag", with_validation),
        ("cdk-nag only (`CDK_VALIDATION=false`)", without_validation),
    ):
        print(f"| {name} | {figures['import']:.1f} | {figures['construct']:.1f} | {figures['synth']:.1f} |")

    all_100 = best[-1][1]
    # Judged on CPU seconds: wall time on a shared 2-core machine moves with other processes' load.
    slope, intercept, r2 = fit(cpu_best)
    linear = r2 >= LINEAR_R2
    print()
    print(
        f"Least-squares line through the CPU seconds: {intercept:.1f} s + {slope:.2f} s per tenant stack, R² = {r2:.3f}"
    )
    print()
    print(
        f"- 100 tenants: {all_100:.1f} s, target < {TARGET_ALL_S:.0f} s: {'met' if all_100 < TARGET_ALL_S else 'MISSED'}"
    )
    print(
        f"- growth linear (R² of a straight line through the CPU seconds ≥ {LINEAR_R2}): {'yes' if linear else 'NO'} "
        f"(R² = {r2:.3f})"
    )
    # R² also drops when growth bends *down* (per-tenant cost falling as N grows), which is better than linear;
    # this line says whether the cost of one more tenant grows, which is what "linear" guards against.
    first_step, last_step = cpu_steps[0][2], cpu_steps[-1][2]
    not_superlinear = last_step <= first_step * SUPERLINEAR_TOLERANCE
    print(
        f"- no superlinear growth (CPU seconds per added tenant, last step ≤ {SUPERLINEAR_TOLERANCE} × first step): "
        f"{'yes' if not_superlinear else 'NO'} ({last_step:.2f} vs {first_step:.2f} s)"
    )
    best_selected = min(selected_seconds)
    print(
        f"- one selected tenant among 100: best {best_selected:.1f} s, worst {max(selected_seconds):.1f} s, "
        f"target < {TARGET_SELECTED_S:.0f} s: {'met' if best_selected < TARGET_SELECTED_S else 'MISSED'}"
    )
    if any(any(row[3]) for row in rows) or any(status for _, status, _ in selected):
        print(
            "- a non-zero exit means validation (cdk-nag / CloudFormation rules) reported findings; templates were "
            "written and timed all the same"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
