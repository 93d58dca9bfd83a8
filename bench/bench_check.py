"""Time `gongdan check` as an admin or CI runs it: a fresh process each time, interpreter start included.

    python bench/bench_check.py [--runs 7]

Generates 500 ticket types, 100 flows and 50 roles (bench/gen_definitions.py) into a temporary
folder, then reports the median wall time of `gongdan check` on it and on the shipped definitions.
Targets: generated set < 2 s, shipped set < 0.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_definitions import generate  # noqa: E402


def gongdan() -> list[str]:
    exe = shutil.which("gongdan", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "engine.cli"]


def time_check(target: Path, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([*gongdan(), "check", str(target)], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"check failed on {target}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return statistics.median(times), times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "definitions"
        generate(big, 500, 100, 50)
        median, times = time_check(big, args.runs)
        print(
            f"generated set (500 types, 100 flows, 50 roles): median {median:.3f} s "
            f"over {args.runs} runs [{', '.join(f'{t:.2f}' for t in times)}]  target < 2 s"
        )
    shipped = HERE.parent / "definitions"
    median, times = time_check(shipped, args.runs)
    print(
        f"shipped definitions: median {median:.3f} s over {args.runs} runs "
        f"[{', '.join(f'{t:.2f}' for t in times)}]  target < 0.5 s"
    )


if __name__ == "__main__":
    main()
