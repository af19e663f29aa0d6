"""Whole-process wall time of CLI commands a new user runs first, best of N runs each.

    python benchmarks/cli_startup.py [--runs 3]

Targets (2 quiet cores): ``hwsim --help``, ``hwsim models`` and ``hwsim schemes`` under 1 s;
``hwsim count gpt2_small --input tokens:1024`` and ``hwsim count llama2_7b --input tokens:4096``
under 5 s. Prints each command's best and median time and the machine's load average next to them
(timings under load are not the targets' conditions).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = [
    (["--help"], 1.0),
    (["models"], 1.0),
    (["schemes"], 1.0),
    (["count", "gpt2_small", "--input", "tokens:1024"], 5.0),
    (["count", "llama2_7b", "--input", "tokens:4096"], 5.0),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    exe = shutil.which("hwsim")
    base = [exe] if exe else [sys.executable, "-m", "hwsim.cli"]
    print(f"load average before: {os.getloadavg()}")
    for cmd, target in COMMANDS:
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([*base, *cmd], check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        best = min(times)
        print(f"hwsim {' '.join(cmd):45s} best {best:6.2f} s  median {statistics.median(times):6.2f} s  "
              f"target {target:.0f} s  {'ok' if best <= target else 'OVER'}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
