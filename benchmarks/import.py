"""Benchmark the PubMed XML parser: records/s and peak memory at 20,000 and 100,000 synthetic records.

Usage: .venv/bin/python benchmarks/import.py [--sizes 20000 100000] [--keep DIR]

Each file is generated in a temporary folder with livingreview.writers.pubmed_xml (clearly fake
records: "Synthetic benchmark record N", synthetic numeric ids that are never archived), gzip
compressed as archived runs are. Each size is parsed in a fresh Python process that reports its
wall and CPU time and its peak resident memory (VmHWM), so memory figures do not mix. The parse
is streaming, so peak memory should stay flat as the file grows.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RECORDS_PER_S = 20_000


def generate(path: Path, n: int, *, batch: int = 2000) -> None:
    """Write ``n`` synthetic PubmedArticle records as gzip PubMed XML, batch by batch (bounded memory)."""
    from livingreview.records import Record
    from livingreview.writers import PUBMED_DOCTYPE, PUBMED_XML_DECLARATION, pubmed_xml

    open_tag, close_tag = b"<PubmedArticleSet>", b"</PubmedArticleSet>"
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(f"{PUBMED_XML_DECLARATION}\n{PUBMED_DOCTYPE}\n".encode() + open_tag + b"\n")
        for start in range(0, n, batch):
            records = [
                Record(
                    pmid=str(900_000_000 + i),  # synthetic, outside the range PubMed has assigned
                    title=f"Synthetic benchmark record {i}: <i>fake</i> title about nothing in particular",
                    abstract=" ".join(f"Synthetic sentence {j} of the fake abstract of record {i}." for j in range(12)),
                    authors=tuple(f"Synthetic{k} AB" for k in range(6)),
                    journal="Synthetic Journal of Benchmarks",
                    journal_abbrev="Synth J Bench",
                    year=str(1990 + i % 35),
                    volume=str(i % 90),
                    issue=str(i % 12),
                    pages=f"{i % 900}-{i % 900 + 9}",
                    language="eng",
                    publication_types=("Journal Article",),
                    mesh=("Synthetic Heading A", "Synthetic Heading B"),
                    keywords=("synthetic", "benchmark"),
                )
                for i in range(start, min(start + batch, n))
            ]
            chunk = pubmed_xml(records)
            out.write(chunk[chunk.index(open_tag) + len(open_tag) : chunk.rindex(close_tag)])
        out.write(close_tag + b"\n")


def peak_rss_kb() -> int:
    """Peak resident memory of this process in kB: VmHWM of /proc/self/status (Linux), which starts
    afresh at exec; elsewhere ru_maxrss (which Linux would carry over from the parent process)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(path: str) -> None:
    """Parse one file in this process and print a JSON line with count, seconds and peak RSS."""
    from livingreview.parsers import read_records

    rss_before = peak_rss_kb()
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(1 for _ in read_records(path, fmt="pubmed_xml", database="pubmed", run_id="bench"))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_after = peak_rss_kb()
    print(json.dumps({"records": n, "seconds": seconds, "cpu_seconds": cpu, "rss_before_kb": rss_before, "rss_peak_kb": rss_after}))


def main() -> int:
    """Generate, parse in a child process per size, print a table, exit 1 below the target speed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--keep", default=None, help="write the generated files here instead of a temporary folder")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="lr_bench_") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            path = folder / f"synthetic_{n}.xml.gz"
            t0 = time.perf_counter()
            generate(path, n)
            gen_s = time.perf_counter() - t0
            proc = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if r["records"] != n:
                print(f"error: parsed {r['records']} records from a file of {n}", file=sys.stderr)
                return 1
            r.update(size=n, gzip_mb=path.stat().st_size / 1e6, gen_s=gen_s)
            results.append(r)
    print(f"{'records':>8} {'gzip MB':>8} {'wall s':>7} {'rec/s wall':>11} {'CPU s':>6} {'rec/s CPU':>10} {'RSS base MB':>12} {'RSS peak MB':>12} {'growth MB':>10}")
    for r in results:
        base, peak = r["rss_before_kb"] / 1024, r["rss_peak_kb"] / 1024
        print(
            f"{r['records']:>8} {r['gzip_mb']:>8.1f} {r['seconds']:>7.2f} {r['records'] / r['seconds']:>11,.0f} "
            f"{r['cpu_seconds']:>6.2f} {r['records'] / r['cpu_seconds']:>10,.0f} {base:>12.1f} {peak:>12.1f} {peak - base:>10.1f}"
        )
    slowest_wall = min(r["records"] / r["seconds"] for r in results)
    slowest_cpu = min(r["records"] / r["cpu_seconds"] for r in results)
    print(
        f"slowest: {slowest_wall:,.0f} records/s wall clock, {slowest_cpu:,.0f} records/s of CPU time "
        f"(target {TARGET_RECORDS_PER_S:,}; wall clock counts other processes on a shared machine)"
    )
    return 0 if slowest_cpu >= TARGET_RECORDS_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
