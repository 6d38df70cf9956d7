"""How long ``verifix --help`` takes, against a bare ``python -c pass`` in the same run.

Heavy libraries (docker, litellm: about 2 s) must load only in the commands that use them,
and a command's module only when that command runs (cli/main.py), so the CLI feels instant:
the aim is ``--help`` within 3x of the bare interpreter. This prints the ratio so a
regression shows.

    python benchmarks/startup.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

VERIFIX = Path(sys.executable).parent / "verifix"


def timed(cmd: list[str], rounds: int) -> float:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    bare = timed([sys.executable, "-c", "pass"], args.rounds)
    help_ = timed([str(VERIFIX), "--help"], args.rounds)
    litellm = timed(
        [
            sys.executable,
            "-c",
            "import os; os.environ['LITELLM_LOCAL_MODEL_COST_MAP']='True'; import litellm",
        ],
        max(3, args.rounds // 3),
    )
    print(f"python -c pass (baseline)     {bare * 1000:7.0f} ms   1.00x")
    print(f"verifix --help                {help_ * 1000:7.0f} ms   {help_ / bare:5.2f}x")
    print(f"import litellm (avoided)      {litellm * 1000:7.0f} ms   {litellm / bare:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
