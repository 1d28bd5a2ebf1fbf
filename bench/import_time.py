"""How long ``import dagnet`` takes after ``import torch``, and which heavy libraries it loads.

Each measurement runs in a fresh interpreter (nothing cached in memory; the
files are in the OS cache after the first). Prints markdown.

    python bench/import_time.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

_PROBE = """
import json, sys, time
import torch
start = time.perf_counter()
import dagnet
seconds = time.perf_counter() - start
heavy = sorted({m.split(".")[0] if m.split(".")[0] != "scipy" else ".".join(m.split(".")[:2])
                for m in sys.modules if m.split(".")[0] in ("matplotlib", "scipy", "sklearn", "pandas")})
print(json.dumps({"seconds": seconds, "heavy": heavy}))
"""


def measure(runs: int) -> tuple[list[float], list[str]]:
    """Return the seconds of ``runs`` fresh imports and the heavy modules the last one loaded."""
    times, heavy = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
        row = json.loads(out)
        times.append(row["seconds"])
        heavy = row["heavy"]
    return times, heavy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    times, heavy = measure(args.runs)
    print(f"#### import dagnet after import torch ({args.runs} fresh interpreters)\n")
    print("| median s | min s | max s | heavy modules loaded |")
    print("|---|---|---|---|")
    print(f"| {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} | {', '.join(heavy) or '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
