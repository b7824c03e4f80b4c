"""Update benchmark: a full build with a 100,000-record synthetic run, then an update run of 1,000 records.

Usage: python benchmarks/update.py [--archive 100000] [--update 1000] [--cores 2] [--shard-size N] [--keep DIR]

A temporary project holds a copy of config/ and resources/ (the default review and its archived
2025-09-30 snapshot) plus a synthetic run (2025-10-01) written with livingreview.writers and
runs.write_run: a gzip PubMed XML of the synthetic "works" and an OVID Embase RIS of their copies
in other databases (the generator of benchmarks/dedup.py: made-up words and authors, PMIDs above
900,000,000, DOIs under the Crossref test prefix 10.5555, so nothing here is a real record).
`snakemake --cores N all` builds everything (full-build time). Then an update run (2025-11-01)
of 1,000 records is archived: new synthetic works plus OVID copies of works already archived
(duplicates that must join existing clusters), and `snakemake` runs again (update time). The
ratio update / full build is printed against the target of 10 %, with the time of each job.
Last, a floor: a chain of trivial jobs, one per stage an update must pass through, each doing
nothing but import its stage's module, timed with the same Snakemake, as a share of the full build.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from livingreview.records import Record  # noqa: E402
from livingreview.runs import Manifest, RunFile, write_run  # noqa: E402
from livingreview.workflow_support import record_total  # noqa: E402
from livingreview.writers import ovid_ris, pubmed_xml  # noqa: E402

TARGET_RATIO = 0.10
ARCHIVE_RUN = "2025-10-01"
UPDATE_RUN = "2025-11-01"
PMID_BASE = 900_000_000  # synthetic PMIDs: far above any PMID PubMed has assigned

_spec = importlib.util.spec_from_file_location("dedup_benchmark", ROOT / "benchmarks" / "dedup.py")
assert _spec and _spec.loader
dedup_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dedup_bench)


@dataclasses.dataclass
class SyntheticRun:
    """Records of a synthetic run split by output file, with the true work label of each record."""

    pubmed: list[Record]
    ovid: list[Record]
    pubmed_labels: list[int]
    ovid_labels: list[int]

    @property
    def size(self) -> int:
        """Records in the run."""
        return len(self.pubmed) + len(self.ovid)


def synthetic_records(n: int, *, seed: int, pmid_offset: int) -> SyntheticRun:
    """About ``n`` synthetic records with known duplicates (benchmarks/dedup.py generator).

    Records the generator gives a PMID become PubMed XML records (PMID shifted by ``pmid_offset``
    into the synthetic range); every other record (copies in other databases, errata, preprints,
    conference abstracts, companion papers) goes into one OVID Embase RIS export without ids.
    Labels are the generator's true work of each record (``seed`` * 10**7 + label).
    """
    records, labels = dedup_bench.generate(n, seed)
    run = SyntheticRun([], [], [], [])
    for rec, lab in zip(records, labels):
        label = seed * 10**7 + lab
        if rec.database == "pubmed":
            pmid = str(PMID_BASE + pmid_offset + int(rec.pmid) - 90_000_000)
            journal, abbrev = next(((j, a) for j, a in dedup_bench.JOURNALS if a == rec.journal_abbrev), ("", rec.journal_abbrev))
            run.pubmed.append(dataclasses.replace(rec, pmid=pmid, record_id=f"pubmed:{pmid}", journal=journal, language="eng"))
            run.pubmed_labels.append(label)
        else:
            run.ovid.append(dataclasses.replace(rec, pmid="", database="embase"))
            run.ovid_labels.append(label)
    return run


def write_synthetic_run(root: Path, run_id: str, run: SyntheticRun) -> Path:
    """Archive ``run`` under ``root`` as ``run_id``: pubmed.xml.gz and embase.ris, with a manifest."""
    files: dict[str, bytes] = {}
    entries: list[RunFile] = []
    limits = {"from": "inception", "to": run_id.replace("-", "/")}
    if run.pubmed:
        files["pubmed.xml.gz"] = gzip.compress(pubmed_xml(run.pubmed), compresslevel=6, mtime=0)
        entries.append(
            RunFile(name="pubmed.xml.gz", database="pubmed", platform="synthetic (benchmarks/update.py)", format="pubmed_xml",
                    query="synthetic benchmark records", date_limits=limits, count_reported=len(run.pubmed), count_in_file=len(run.pubmed))
        )
    if run.ovid:
        files["embase.ris"] = ovid_ris(run.ovid, database="embase").encode("utf-8")
        entries.append(
            RunFile(name="embase.ris", database="embase", platform="synthetic (benchmarks/update.py)", format="ris",
                    query="synthetic benchmark records", date_limits=limits, count_reported=len(run.ovid), count_in_file=len(run.ovid))
        )
    manifest = Manifest(run_id=run_id, date_run=run_id, files=entries, description="SYNTHETIC records for benchmarks and tests; not a real search")
    return write_run(root, manifest, files)


def update_run(archive: SyntheticRun, n: int, *, seed: int, duplicates: int) -> SyntheticRun:
    """About ``n`` records: new synthetic works plus OVID copies of ``duplicates`` archived PubMed records."""
    new = synthetic_records(n - duplicates, seed=seed, pmid_offset=50_000_000)
    step = max(1, len(archive.pubmed) // max(duplicates, 1))
    for k in range(duplicates):
        rec = archive.pubmed[(k * step) % len(archive.pubmed)]
        new.ovid.append(dataclasses.replace(rec, pmid="", database="embase", record_id="", journal=rec.journal or rec.journal_abbrev))
        new.ovid_labels.append(archive.pubmed_labels[(k * step) % len(archive.pubmed)])
    return new


def make_project(dest: Path, *, shard_size: int | None = None) -> Path:
    """Copy config/ and resources/ into ``dest`` (optionally setting scale.shard_size)."""
    for name in ("config", "resources"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    if shard_size is not None:
        set_shard_size(dest, shard_size)
    return dest


def set_shard_size(project: Path, shard_size: int) -> None:
    """Set scale.shard_size in ``project``/config/config.yaml (a targeted line edit)."""
    path = project / "config" / "config.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out = [f"  shard_size: {shard_size}\n" if line.startswith("  shard_size:") else line for line in lines]
    if out == lines and not any(line.startswith("  shard_size:") for line in lines):
        out.append(f"\nscale:\n  shard_size: {shard_size}\n")
    path.write_text("".join(out), encoding="utf-8")


def snakemake(workdir: Path, *targets: str, cores: int = 2, extra: Sequence[str] = ()) -> float:
    """Run the project's workflow in ``workdir``; return wall seconds (raises on failure)."""
    exe = str(Path(sys.executable).with_name("snakemake"))
    cmd = [exe, "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", str(cores), *extra, "--quiet", "all", "--", *targets]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return elapsed


# The shortest chain of sequential jobs an update needs (one job per stage), with the package module
# each job's glue imports: import the new file, its blocking index, its candidate links against the
# archive, clustering, screening, study linking, effect sizes, pooling, the report.
FLOOR_CHAIN = ("importer", "dedup", "dedup", "dedup", "screen_stage", "studies", "effects", "meta", "report")
FLOOR_STEP = """\
import sys
sys.path.insert(0, {workflow!r})
import importlib
from livingreview.tables import write_text
importlib.import_module("livingreview." + snakemake.params.module)
write_text(snakemake.output[0], "done\\n")
"""


def floor_snakefile(modules: Sequence[str]) -> str:
    """A Snakefile chaining one trivial script job per module (each imports it and writes one line)."""
    rules = [f'rule all:\n    input: "level{len(modules)}.txt"\n']
    for n, module in enumerate(modules, start=1):
        needs = f'    input: "level{n - 1}.txt"\n' if n > 1 else ""
        rules.append(f'rule level{n}:\n{needs}    output: "level{n}.txt"\n    params: module="{module}"\n    script: "step.py"\n')
    return "\n".join(rules)


def chain_floor(modules: Sequence[str], cores: int) -> tuple[float, float]:
    """Seconds of a chain of trivial script jobs, one per stage module (each imports it, as the stage's
    glue does, and writes one line), and of Snakemake with nothing to do on it: the time an update
    through those stages, one job each, cannot go below on this machine."""
    with tempfile.TemporaryDirectory(prefix="lr_update_floor_") as tmp:
        work = Path(tmp)
        (work / "Snakefile").write_text(floor_snakefile(modules), encoding="utf-8")
        (work / "step.py").write_text(FLOOR_STEP.format(workflow=str(ROOT / "workflow")), encoding="utf-8")
        exe = str(Path(sys.executable).with_name("snakemake"))
        cmd = [exe, "-s", str(work / "Snakefile"), "-d", str(work), "--cores", str(cores), "--quiet", "all"]
        times = []
        for _ in range(2):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=work)
            times.append(time.perf_counter() - start)
        if not (work / f"level{len(modules)}.txt").exists():
            raise RuntimeError("the floor chain did not write its last file")
    return times[0], times[1]


def job_times(workdir: Path, since: float) -> list[tuple[str, float]]:
    """(benchmark file, seconds) of every job that ran after ``since`` (Snakemake benchmark files)."""
    out = []
    for path in sorted((workdir / "benchmarks").rglob("*.tsv")):
        if path.stat().st_mtime >= since:
            lines = path.read_text().splitlines()
            if len(lines) >= 2:
                out.append((str(path.relative_to(workdir / "benchmarks")), float(lines[1].split("\t")[0])))
    return out


def main() -> int:
    """Build, update, print the two times and the ratio; exit 0 (the figures are reported, not judged)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=int, default=100_000)
    parser.add_argument("--update", type=int, default=1_000)
    parser.add_argument("--duplicates", type=int, default=100, help="records of the update run copying archived records")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=None, help="scale.shard_size (default: the config's)")
    parser.add_argument("--keep", default=None, help="build in this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lr_update_bench_") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        make_project(work, shard_size=args.shard_size)
        runs_root = work / "resources" / "searches"
        snapshot = record_total(str(runs_root))
        t0 = time.perf_counter()
        archive = synthetic_records(args.archive, seed=11, pmid_offset=0)
        write_synthetic_run(runs_root, ARCHIVE_RUN, archive)
        gen_s = time.perf_counter() - t0
        t_full0 = time.time()
        full = snakemake(work, cores=args.cores)
        full_jobs = job_times(work, t_full0)
        t0 = time.perf_counter()
        upd = update_run(archive, args.update, seed=12, duplicates=args.duplicates)
        write_synthetic_run(runs_root, UPDATE_RUN, upd)
        gen2_s = time.perf_counter() - t0
        t_upd0 = time.time()
        update = snakemake(work, cores=args.cores)
        upd_jobs = job_times(work, t_upd0)
        noop = snakemake(work, cores=args.cores)
        new_rows = (work / "results" / "update" / UPDATE_RUN / "new_records.tsv").read_text(encoding="utf-8").count("\n") - 1
        summary = json.loads((work / "results" / "update" / UPDATE_RUN / "summary.json").read_text(encoding="utf-8"))
    print(f"archive: {archive.size:,} synthetic records (+ {snapshot:,} of the default snapshot), generated in {gen_s:.1f} s")
    print(f"update:  {upd.size:,} records ({args.duplicates} copies of archived records), generated in {gen2_s:.1f} s")
    print(f"full build:  {full:8.1f} s")
    print(f"update:      {update:8.1f} s")
    print(f"ratio:       {update / full:8.1%} (target <= {TARGET_RATIO:.0%})")
    print(f"new clusters listed for the update run: {new_rows:,}; summary: {json.dumps(summary, sort_keys=True)[:300]}")
    own = sum(sec for name, sec in upd_jobs if UPDATE_RUN in name)
    whole = sum(sec for name, sec in upd_jobs if UPDATE_RUN not in name)
    print("where the update's time goes:")
    print(f"  snakemake with nothing to do (DAG, metadata): {noop:6.1f} s")
    print(f"  jobs of the new run only (import, index, candidates, rules): {own:6.1f} s of job time")
    print(f"  whole-review jobs (re-read and rewrite every record): {whole:6.1f} s of job time ({args.cores} cores)")
    floor, floor_noop = chain_floor(FLOOR_CHAIN, args.cores)
    print(
        f"floor: {len(FLOOR_CHAIN)} chained jobs that only import their stage's module ({' > '.join(FLOOR_CHAIN)}), "
        f"the fewest sequential jobs an update needs, take {floor:.1f} s ({floor_noop:.1f} s with nothing to do) "
        f"= {floor / full:.1%} of this full build, before any record is read"
    )
    for title, jobs in (("full build", full_jobs), ("update", upd_jobs)):
        print(f"jobs of the {title} (s, from Snakemake benchmark files):")
        for name, seconds in sorted(jobs, key=lambda x: -x[1])[:25]:
            print(f"  {seconds:8.2f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
