"""Cold build and no-op rebuild time of the default review (issue 6 targets: cold <= 60 s, no-op <= 3 s).

Copies config/ and resources/ into a temporary directory, runs `snakemake --cores N` there twice
(the second run has nothing to do) and prints the wall times and peak memory of the children.
Usage: python benchmarks/pipeline.py [--cores 2]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, cores: int) -> float:
    """Run the workflow in ``workdir``; return wall seconds (raises on failure)."""
    exe = str(Path(sys.executable).with_name("snakemake"))
    start = time.perf_counter()
    proc = subprocess.run(
        [exe, "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", str(cores), "--quiet", "all"],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"snakemake failed:\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lr-pipeline-") as tmp:
        work = Path(tmp)
        for name in ("config", "resources"):
            shutil.copytree(ROOT / name, work / name)
        cold = snakemake(work, args.cores)
        noop = snakemake(work, args.cores)
        n_outputs = sum(1 for p in (work / "results").rglob("*") if p.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"cold build : {cold:6.1f} s  (target <= 60 s) {'OK' if cold <= 60 else 'OVER'}  [{n_outputs} result files, --cores {args.cores}]")
    print(f"no-op build: {noop:6.1f} s  (target <= 3 s)  {'OK' if noop <= 3 else 'OVER'}")
    print(f"peak memory of one job: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
