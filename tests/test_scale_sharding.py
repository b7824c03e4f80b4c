"""Scale-out: per-file import jobs, dedup and screening shards give the same bytes as one job."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, SNAKEMAKE, copy_project_inputs, run_snakemake, shipped_project, shipped_resources

from livingreview.dedup import candidate_rows, deduplicate, run_dedup
from livingreview.errors import ReconciliationError
from livingreview.importer import import_file, merge_parts, run_import
from livingreview.runs import list_runs, load_manifest
from livingreview.screen_stage import run_automation, run_screening
from livingreview.workflow_support import record_total, run_layout

_spec = importlib.util.spec_from_file_location("update_benchmark", ROOT / "benchmarks" / "update.py")
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules["update_benchmark"] = bench
_spec.loader.exec_module(bench)

SNAPSHOT = shipped_resources() / "searches"  # the default review as shipped (conftest)
COMPARED = (
    "results/records/records.tsv",
    "results/audit/stages/identification.tsv",
    "results/dedup/clusters.tsv",
    "results/dedup/canonical.tsv",
    "results/dedup/maybe_pairs.tsv",
    "results/dedup/provenance.tsv",
    "results/screening/screening.tsv",
    "results/screening/rule_performance.tsv",
    "results/audit/ledger.tsv",
)


def _import_parts(runs_root: Path, parts: Path) -> list[str]:
    """Run import_file on every archived file; return the file names imported."""
    done = []
    for run_dir in list_runs(runs_root):
        for f in load_manifest(run_dir).files:
            import_file(
                run_dir=run_dir,
                file_name=f.name,
                records_out=parts / "records" / run_dir.name / f"{f.name}.tsv",
                ledger_out=parts / "ledger" / run_dir.name / f"{f.name}.tsv",
            )
            done.append(f.name)
    return done


def test_merged_parts_equal_the_one_job_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shipped_project())  # source_file is relative to the project root (the shipped default review, conftest)
    run_import(runs_root=SNAPSHOT, records_out=tmp_path / "one.tsv", ledger_out=tmp_path / "one_ledger.tsv")
    names = _import_parts(SNAPSHOT, tmp_path / "parts")
    assert len(names) == 4
    counts = merge_parts(
        runs_root=SNAPSHOT, parts_dir=tmp_path / "parts" / "records", ledger_parts_dir=tmp_path / "parts" / "ledger",
        records_out=tmp_path / "merged.tsv", ledger_out=tmp_path / "merged_ledger.tsv",
    )
    assert (tmp_path / "merged.tsv").read_bytes() == (tmp_path / "one.tsv").read_bytes()
    assert (tmp_path / "merged_ledger.tsv").read_bytes() == (tmp_path / "one_ledger.tsv").read_bytes()
    assert sum(c.parsed for c in counts) == record_total(str(SNAPSHOT)) > 0


def test_duplicate_record_across_parts_names_both_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("runs")
    archive = bench.synthetic_records(40, seed=3, pmid_offset=0)
    bench.write_synthetic_run(root, "2025-10-01", archive)
    again = bench.SyntheticRun(archive.pubmed[:2], [], archive.pubmed_labels[:2], [])  # the same PMIDs archived twice
    bench.write_synthetic_run(root, "2025-11-01", again)
    _import_parts(root, Path("parts"))
    with pytest.raises(ReconciliationError) as err:
        merge_parts(runs_root=root, parts_dir="parts/records", ledger_parts_dir="parts/ledger", records_out="r.tsv", ledger_out="l.tsv")
    message = str(err.value)
    pmid = sorted(r.pmid for r in archive.pubmed[:2])[0]
    assert f"pubmed:{pmid} occurs twice" in message
    assert re.search(r"runs/2025-10-01/pubmed\.xml\.gz:\d+", message) and re.search(r"runs/2025-11-01/pubmed\.xml\.gz:\d+", message)
    assert not Path("r.tsv").exists() and not Path("l.tsv").exists()


def test_stale_part_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("runs")
    bench.write_synthetic_run(root, "2025-10-01", bench.synthetic_records(30, seed=4, pmid_offset=0))
    _import_parts(root, Path("parts"))
    part = Path("parts/records/2025-10-01/pubmed.xml.gz.tsv")
    lines = part.read_text(encoding="utf-8").splitlines(keepends=True)
    part.write_text("".join(lines[:-1]), encoding="utf-8")
    with pytest.raises(ReconciliationError, match="count_in_file"):
        merge_parts(runs_root=root, parts_dir="parts/records", ledger_parts_dir="parts/ledger", records_out="r.tsv", ledger_out="l.tsv")



def test_stale_parts_of_the_same_length_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both per-file tables one record short (e.g. written from an older copy of the file): the records
    and ledger agree with each other but not with the manifest's count_in_file."""
    monkeypatch.chdir(tmp_path)
    root = Path("runs")
    bench.write_synthetic_run(root, "2025-10-01", bench.synthetic_records(30, seed=4, pmid_offset=0))
    _import_parts(root, Path("parts"))
    for kind in ("records", "ledger"):
        part = Path(f"parts/{kind}/2025-10-01/pubmed.xml.gz.tsv")
        lines = part.read_text(encoding="utf-8").splitlines(keepends=True)
        part.write_text("".join(lines[:-1]), encoding="utf-8")
    n = next(f.count_in_file for f in load_manifest(root / "2025-10-01").files if f.name == "pubmed.xml.gz")
    with pytest.raises(ReconciliationError, match=rf"{n - 1} records \({n - 1} ledger rows\) in the per-file table but manifest\.json says count_in_file = {n}"):
        merge_parts(runs_root=root, parts_dir="parts/records", ledger_parts_dir="parts/ledger", records_out="r.tsv", ledger_out="l.tsv")
    assert not Path("r.tsv").exists() and not Path("l.tsv").exists()

def _two_runs(n: int) -> list:
    """Synthetic records in two runs (every third work's records in the later run)."""
    run = bench.synthetic_records(n, seed=5, pmid_offset=0)
    records = [*run.pubmed, *[r.__class__(**{**r.as_dict(), "record_id": f"embase:x#{k}"}) for k, r in enumerate(run.ovid, 1)]]
    labels = [*run.pubmed_labels, *run.ovid_labels]
    return [r.__class__(**{**r.as_dict(), "run_id": "2025-11-01" if (lab + k) % 3 == 0 else "2025-10-01"}) for k, (r, lab) in enumerate(zip(records, labels))]


def _as_text(rows: list[dict[str, object]]) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in row.items()} for row in rows]


def test_candidate_shards_give_the_unsharded_dedup() -> None:
    records = _two_runs(3000)
    whole = deduplicate(records)
    shard_sizes = []
    links: list[dict[str, str]] = []
    for shard in range(4):
        rows = candidate_rows(records, shard=shard, n_shards=4)
        shard_sizes.append(len(rows))
        links += _as_text(rows)
    assert all(n > 0 for n in shard_sizes)  # the blocks really are spread over the shards
    parts = deduplicate(records, candidates=links)
    for name in ("clusters", "maybe_pairs", "canonical", "provenance", "ledger"):
        assert getattr(parts, name) == getattr(whole, name), name
    assert whole.n_clusters < len(records)


def test_incremental_candidates_per_run_give_the_full_dedup(tmp_path: Path) -> None:
    """The later run compared only against the earlier run's index gives the full result."""
    records = _two_runs(3000)
    whole = deduplicate(records)
    earlier = [r for r in records if r.run_id == "2025-10-01"]
    links = _as_text(candidate_rows(earlier, new_run="2025-10-01"))
    added = []
    for shard in range(2):
        added += _as_text(candidate_rows(records, new_run="2025-11-01", shard=shard, n_shards=2))
    assert added
    run_of = {r.record_id: r.run_id for r in records}
    assert all("2025-11-01" in (run_of[row["record_a"]], run_of[row["record_b"]]) for row in added)
    incremental = deduplicate(records, candidates=links + added)
    for name in ("clusters", "maybe_pairs", "canonical", "provenance", "ledger"):
        assert getattr(incremental, name) == getattr(whole, name), name
    # The blocking index round-trips every comparison field.
    from livingreview.dedup import _prepare, _prepared_from_index, index_rows

    rows = _as_text([{k: ("" if v is None else v) for k, v in row.items()} for row in index_rows(records)])
    assert _prepared_from_index(rows) == _prepare(records)
    from_index = deduplicate(records, candidates=links + added, index_rows_in=rows[::-1])  # any row order
    assert from_index.clusters == whole.clusters and from_index.canonical == whole.canonical and from_index.maybe_pairs == whole.maybe_pairs
    with pytest.raises(ReconciliationError, match="blocking indexes"):
        deduplicate(records, candidates=links + added, index_rows_in=rows[1:])
    # The index files read as columns (what the deduplicate_records and dedup_candidates jobs read)
    # hold the rows read_tsv reads, and give the same clusters and the same refusal.
    from livingreview.dedup import INDEX_FIELDS, _prepared_from_columns, read_index_columns
    from livingreview.tables import read_tsv, write_tsv

    halves = [tmp_path / "index_a.tsv", tmp_path / "index_b.tsv"]
    write_tsv(halves[0], INDEX_FIELDS[::-1], rows[::-2])  # another column order
    write_tsv(halves[1], INDEX_FIELDS, rows[-2::-2])
    columns = read_index_columns(halves)
    read_back = [row for path in halves for row in read_tsv(path, required=INDEX_FIELDS)]
    assert columns.columns == {name: [row[name] for row in read_back] for name in INDEX_FIELDS}
    # What the columns read from the files rebuild is what _prepare computes from the records themselves,
    # in the files' row order (not _prepared_from_index of the same cells: that is _prepared_from_columns).
    order = [*range(len(records))][::-2] + [*range(len(records))][-2::-2]
    assert sorted(order) == [*range(len(records))]
    assert _prepared_from_columns(columns.columns) == _prepare([records[k] for k in order])
    position = {k: i for i, k in enumerate(order)}
    assert _prepared_from_columns(columns.columns, [position[k] for k in range(len(records))]) == _prepare(records)
    from_columns = deduplicate(records, candidates=links + added, index_rows_in=columns)
    for name in ("clusters", "maybe_pairs", "canonical", "provenance", "ledger"):
        assert getattr(from_columns, name) == getattr(whole, name), name
    with pytest.raises(ReconciliationError, match="blocking indexes"):
        deduplicate(records, candidates=links + added, index_rows_in=read_index_columns(halves[:1]))


def test_automation_shards_give_the_unsharded_screening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shipped_project())  # the shipped default review (conftest): its config/ and resources/
    rec = tmp_path / "records.tsv"
    run_import(runs_root=SNAPSHOT, records_out=rec, ledger_out=tmp_path / "id.tsv")
    d = tmp_path / "dedup"
    run_dedup(records=rec, decisions="resources/dedup/decisions.tsv", clusters_out=d / "clusters.tsv", maybe_out=d / "maybe.tsv",
              canonical_out=d / "canonical.tsv", provenance_out=d / "prov.tsv", ledger_out=d / "ledger.tsv")
    shards = [tmp_path / f"auto{k}.tsv" for k in range(3)]
    sizes = [run_automation(records=[rec], rules="config/screening.yaml", shard=k, n_shards=3, out=path) for k, path in enumerate(shards)]
    assert all(n > 0 for n in sizes) and sum(sizes) == len(rec.read_text(encoding="utf-8").splitlines()) - 1
    outputs = {}
    for label, automation in (("rules", None), ("shards", shards)):
        o = tmp_path / label
        run_screening(canonical=d / "canonical.tsv", clusters=d / "clusters.tsv", rules="config/screening.yaml",
                      decisions="resources/screening/decisions.tsv", studies="resources/extraction/studies.tsv",
                      screening_out=o / "s.tsv", performance_out=o / "p.tsv", agreement_out=o / "a.json", ledger_out=o / "l.tsv",
                      automation=automation)
        outputs[label] = [(o / n).read_bytes() for n in ("s.tsv", "p.tsv", "a.json", "l.tsv")]
    assert outputs["rules"] == outputs["shards"]
    with pytest.raises(ReconciliationError, match="no automation result"):
        run_screening(canonical=d / "canonical.tsv", clusters=d / "clusters.tsv", rules="config/screening.yaml",
                      decisions="resources/screening/decisions.tsv", studies=None, screening_out=tmp_path / "x.tsv",
                      performance_out=tmp_path / "y.tsv", agreement_out=tmp_path / "z.json", ledger_out=tmp_path / "w.tsv",
                      automation=shards[:2])


def test_stored_result_is_used_only_for_the_same_screened_fields() -> None:
    from collections import Counter as C

    from livingreview.records import Record
    from livingreview.screen_stage import StoredResult, screened_fields_sha1, stored_screen
    from livingreview.screening import READABLE_FIELDS
    from livingreview.screen_stage import SCREENED_FIELDS

    assert SCREENED_FIELDS == READABLE_FIELDS
    rec = Record(record_id="pubmed:900000001", title="Synthetic title", year="2020")
    stored = StoredResult(rec.record_id, screened_fields_sha1(rec), False, "", "", "", "", ())
    live_calls = []

    def live(r: Record, _rs: object) -> StoredResult:
        live_calls.append(r.record_id)
        return stored

    counts: C[str] = C()
    screen = stored_screen({rec.record_id: stored}, live, counts)
    assert screen(rec, None) is stored and not live_calls
    merged = Record(record_id=rec.record_id, title=rec.title, year=rec.year, abstract="filled from another member")
    screen(merged, None)
    assert live_calls == [rec.record_id] and counts == {"stored": 1, "rerun": 1}
    journal_only = Record(record_id=rec.record_id, title=rec.title, year=rec.year, journal="Not read by rules")
    assert screened_fields_sha1(journal_only) == screened_fields_sha1(rec)
    # The hash is that of the fields as records.tsv writes them (format_value of each cell), also for
    # lists, a tab or line break in a value, and a value that is not text.
    import hashlib

    from livingreview.tables import format_value

    for r in (
        rec,
        Record(record_id="x:1", title="Two\nlines", abstract="tab\there", keywords=("a", "b"), mesh=("M",), publication_types=("RCT",), language="eng"),
        Record(record_id="x:2", title="T", year=2020, keywords=("k\tk",)),  # type: ignore[arg-type]
        Record(record_id="x:3", title="Carriage\rreturn", publication_types=("Journal Article", "Randomized Controlled Trial")),
    ):
        text = "\x1f".join(format_value(r.cell(name)) for name in SCREENED_FIELDS)
        assert screened_fields_sha1(r) == hashlib.sha1(text.encode("utf-8")).hexdigest(), r.record_id


def _job_counts(stdout: str) -> Counter[str]:
    """Rule -> job count from the "Job stats" table of a dry run."""
    counts: Counter[str] = Counter()
    table = stdout.split("Job stats:", 1)[1]
    for line in table.splitlines()[3:]:
        cells = line.split()
        if len(cells) != 2 or not cells[1].isdigit():
            break
        counts[cells[0]] = int(cells[1])
    return counts


def _dry_run(work: Path, *extra: str) -> Counter[str]:
    """Job counts per rule of `snakemake --dry-run` in ``work``."""
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--dry-run", "--cores", "2", *extra, "--", *COMPARED]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return _job_counts(proc.stdout)


def test_dry_run_shows_one_job_per_file_and_per_shard(tmp_path: Path) -> None:
    work = copy_project_inputs(tmp_path / "p")
    runs_root = work / "resources" / "searches"
    bench.write_synthetic_run(runs_root, "2025-10-01", bench.synthetic_records(450, seed=8, pmid_offset=0))
    bench.set_shard_size(work, 100)
    counts = _dry_run(work)
    per_run = run_layout({"scale": {"shard_size": 100}, "searches": {"root": str(runs_root)}}).shards
    files = sum(len(load_manifest(r).files) for r in list_runs(runs_root))
    assert per_run == {r.name: math.ceil(sum(f.count_in_file for f in load_manifest(r).files) / 100) for r in list_runs(runs_root)}
    assert len(per_run) == 2 and all(n > 1 for n in per_run.values())
    assert counts["import_file"] == files == 6
    assert counts["import_records"] == 1
    assert counts["dedup_index"] == 2
    assert counts["dedup_candidates"] == counts["screen_automation"] == sum(per_run.values())
    assert counts["deduplicate_records"] == 1 and counts["screen_records"] == 1
    bench.set_shard_size(work, 200_000)
    default = _dry_run(work)
    assert default["dedup_candidates"] == default["screen_automation"] == 2  # one per run


def test_sharded_pipeline_is_byte_identical_to_unsharded(tmp_path: Path) -> None:
    """A generated run of about 25,000 synthetic records with known duplicates, built with 7 shards (+ 1 for the snapshot run) and with 1 per run."""
    archive = bench.synthetic_records(25_000, seed=21, pmid_offset=0)
    builds = {}
    for label, shard_size in (("sharded", 4_000), ("unsharded", 1_000_000)):
        work = copy_project_inputs(tmp_path / label)
        bench.write_synthetic_run(work / "resources" / "searches", "2025-10-01", archive)
        bench.set_shard_size(work, shard_size)
        run_snakemake(work, *COMPARED)
        builds[label] = work
    sharded, unsharded = builds["sharded"], builds["unsharded"]
    assert len(list((sharded / "results" / "dedup" / "candidates").glob("*/shard*.tsv"))) == 1 + math.ceil(archive.size / 4_000) == 8
    assert len(list((unsharded / "results" / "screening" / "automation").glob("*/shard*.tsv"))) == 2
    for name in COMPARED:
        assert (sharded / name).read_bytes() == (unsharded / name).read_bytes(), name
    # The known duplicates were found: every OVID copy shares the cluster of its PubMed work (pair precision 1, recall >= 0.99).
    label_of = {f"pubmed:{r.pmid}": lab for r, lab in zip(archive.pubmed, archive.pubmed_labels)}
    label_of |= {f"embase:2025-10-01#{k}": lab for k, lab in enumerate(archive.ovid_labels, 1)}
    cluster_of = {}
    for line in (sharded / "results/dedup/clusters.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        rid, cid = line.split("\t")[:2]
        if rid in label_of:
            cluster_of[rid] = cid
    assert len(cluster_of) == archive.size
    pairs = Counter((label_of[r], c) for r, c in cluster_of.items())
    true = Counter(label_of.values())
    found = Counter(cluster_of.values())
    tp = sum(n * (n - 1) // 2 for n in pairs.values())
    assert tp == sum(n * (n - 1) // 2 for n in found.values())  # no false merge
    assert tp / sum(n * (n - 1) // 2 for n in true.values()) >= 0.99


def test_update_reuses_earlier_runs_jobs_and_equals_a_fresh_build(tmp_path: Path) -> None:
    """Adding a run re-runs no per-run job of earlier runs, and gives the bytes of a build from scratch."""
    archive = bench.synthetic_records(4_000, seed=31, pmid_offset=0)
    upd = bench.update_run(archive, 600, seed=32, duplicates=60)
    targets = (*COMPARED, *(f"results/update/{r}/{n}" for r in ("2025-10-01", "2025-11-01") for n in ("new_records.tsv", "todo.tsv", "summary.json")))
    work = copy_project_inputs(tmp_path / "incremental")
    bench.set_shard_size(work, 1_500)
    runs_root = work / "resources" / "searches"
    bench.write_synthetic_run(runs_root, "2025-10-01", archive)
    run_snakemake(work, *targets[:-6], *targets[-6:-3])
    per_run = sorted(
        p for pattern in ("results/dedup/index/*.tsv", "results/dedup/candidates/*/*.tsv", "results/screening/automation/*/*.tsv", "results/records/parts/*/*.tsv")
        for p in work.glob(pattern)
    )
    assert len(list(work.glob("results/dedup/candidates/2025-10-01/*.tsv"))) == math.ceil(archive.size / 1_500)
    before = {p: p.stat().st_mtime_ns for p in per_run}
    bench.write_synthetic_run(runs_root, "2025-11-01", upd)
    run_snakemake(work, *targets)
    assert {p: p.stat().st_mtime_ns for p in per_run} == before  # earlier runs' per-run jobs did not run again
    assert (work / "results/dedup/candidates/2025-11-01/shard0.tsv").exists()

    fresh = copy_project_inputs(tmp_path / "fresh")
    bench.set_shard_size(fresh, 1_500)
    for run_id, run in (("2025-10-01", archive), ("2025-11-01", upd)):
        bench.write_synthetic_run(fresh / "resources" / "searches", run_id, run)
    run_snakemake(fresh, *targets)
    for name in targets:
        assert (work / name).read_bytes() == (fresh / name).read_bytes(), name
    # The copies of archived records joined existing clusters: they are not new.
    new_ids = {line.split("\t")[0] for line in (work / "results/update/2025-11-01/new_records.tsv").read_text(encoding="utf-8").splitlines()[1:]}
    assert new_ids and not any(rid.startswith("embase:2025-11-01#") and int(rid.split("#")[1]) > len(upd.ovid) - 60 for rid in new_ids)


def test_update_floor_chain_is_one_job_per_stage_module() -> None:
    """benchmarks/update.py's floor: one chained job per stage, each importing a real package module."""
    assert all(importlib.util.find_spec(f"livingreview.{m}") is not None for m in bench.FLOOR_CHAIN)
    snakefile = bench.floor_snakefile(("tables", "records", "tables"))
    assert re.findall(r"^rule (\w+):", snakefile, flags=re.M) == ["all", "level1", "level2", "level3"]
    assert re.findall(r'input: "(level\d)\.txt"', snakefile) == ["level3", "level1", "level2"]
    first, noop = bench.chain_floor(("tables", "records"), 1)  # raises unless the last job wrote its file
    assert first > 0 and noop > 0
