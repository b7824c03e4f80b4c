"""Import stage: archived runs -> records.tsv + identification ledger, with sha256 and count checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from livingreview import cli
from livingreview.constants import LEDGER_FIELDS, RECORD_FIELDS
from livingreview.errors import ArchiveError, ReconciliationError
from livingreview.importer import collect_records, import_file, merge_parts, run_import
from livingreview.runs import Manifest, RunFile, list_runs, load_manifest, write_run
from livingreview.tables import read_tsv

DATA = Path(__file__).parent / "data" / "parsers"
from conftest import shipped_resources

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = shipped_resources() / "searches"  # the default review as shipped (conftest)

# fixture file -> (database, format, records in it)
FIXTURES = {
    "pubmed_ugly.xml.gz": ("pubmed", "pubmed_xml", 4),
    "embase_ovid.ris": ("embase", "ris", 3),
    "medline_ovid_cp1252.ris": ("medline", "ris", 2),
    "covidence_cp1252.csv": ("psycinfo", "csv", 2),
    "ctgov.csv": ("clinicaltrials", "ctgov_csv", 2),
}
# what a record's start line looks like, per format
START_MARK = {"pubmed_xml": "<PubmedArticle>", "ris": "TY  -", "medline": "PMID-"}


def make_run(root: Path, run_id: str, names: list[str], *, counts: dict[str, int] | None = None, database: str | None = None) -> Path:
    """Archive fixture files as one run with runs.write_run."""
    files = []
    for name in names:
        db, fmt, n = FIXTURES[name]
        files.append(
            RunFile(
                name=name, database=database or db, platform="test", format=fmt, query="test query",
                date_limits={"to": "2025/09/30"}, count_reported=n, count_in_file=(counts or {}).get(name, n),
            )
        )
    manifest = Manifest(run_id=run_id, date_run=run_id[:10], files=files)
    return write_run(root, manifest, {name: DATA / name for name in names})


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root (the working directory) with two archived runs made from the fixtures."""
    monkeypatch.chdir(tmp_path)
    root = Path("resources/searches")
    make_run(root, "2025-09-30", ["pubmed_ugly.xml.gz", "embase_ovid.ris", "ctgov.csv"])
    make_run(root, "2025-10-31", ["medline_ovid_cp1252.ris", "covidence_cp1252.csv"])
    return tmp_path


def _import(tmp: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    run_import(runs_root="resources/searches", records_out="results/records/records.tsv", ledger_out="results/audit/stages/identification.tsv")
    return read_tsv(tmp / "results/records/records.tsv", RECORD_FIELDS), read_tsv(tmp / "results/audit/stages/identification.tsv", LEDGER_FIELDS)


def test_import_counts_order_and_provenance(project: Path) -> None:
    records, ledger = _import(project)
    manifests = [load_manifest(p) for p in list_runs("resources/searches")]
    assert len(records) == sum(f.count_in_file for m in manifests for f in m.files) == 13
    ids = [r["record_id"] for r in records]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert "pubmed:24740528" in ids and "embase:2025-09-30#1" in ids and "psycinfo:2025-10-31#2" in ids
    assert "clinicaltrials:NCT00749203" in ids and "medline:35873243" in ids
    for row in records:
        path = project / row["source_file"]
        assert row["source_file"].startswith(f"resources/searches/{row['run_id']}/")
        assert path.exists()
        line = int(row["source_line"])
        assert line >= 1
        fmt = FIXTURES[path.name][1]
        if fmt in START_MARK:
            text = (DATA / path.name).read_bytes()
            if path.name.endswith(".gz"):
                import gzip

                text = gzip.decompress(text)
            lines = text.decode(row["encoding"]).splitlines()
            assert lines[line - 1].lstrip("\ufeff").startswith(START_MARK[fmt]), (row["record_id"], line)
    by_id = {r["record_id"]: r for r in records}
    assert by_id["psycinfo:2025-10-31#1"]["encoding"] == "cp1252"
    assert by_id["psycinfo:2025-10-31#1"]["authors"] == "Rothärmel M; Benosman C; El-Hage W"
    # identification ledger: one row per record, same order, file:line and run
    assert [r["record_id"] for r in ledger] == ids
    for rec, led in zip(records, ledger):
        assert (led["stage"], led["outcome"], led["reason"]) == ("identification", "identified", rec["database"])
        assert led["reference"] == f"{rec['source_file']}:{rec['source_line']}"
        assert led["evidence"] == rec["run_id"] and led["cluster_id"] == ""


def test_import_is_deterministic(project: Path) -> None:
    _import(project)
    first = (project / "results/records/records.tsv").read_bytes(), (project / "results/audit/stages/identification.tsv").read_bytes()
    _import(project)
    second = (project / "results/records/records.tsv").read_bytes(), (project / "results/audit/stages/identification.tsv").read_bytes()
    assert first == second


def _outputs(project: Path) -> tuple[bytes, bytes]:
    return (project / "results/records/records.tsv").read_bytes(), (project / "results/audit/stages/identification.tsv").read_bytes()


def test_edited_archived_file_stops_without_output_change(project: Path) -> None:
    _import(project)
    before = _outputs(project)
    target = project / "resources/searches/2025-10-31/covidence_cp1252.csv"
    target.write_bytes(target.read_bytes().replace(b"2016", b"2017"))
    with pytest.raises(ArchiveError, match=r"2025-10-31/covidence_cp1252\.csv: sha256 .* \(the archived file was edited\)"):
        _import(project)
    assert _outputs(project) == before  # nothing partial, previous outputs untouched


def test_missing_archived_file(project: Path) -> None:
    (project / "resources/searches/2025-09-30/ctgov.csv").unlink()
    with pytest.raises(ArchiveError, match=r"ctgov\.csv listed in manifest\.json is missing"):
        _import(project)
    assert not (project / "results/records/records.tsv").exists()
    assert not (project / "results/audit/stages/identification.tsv").exists()


def test_unlisted_file_in_run_folder(project: Path) -> None:
    (project / "resources/searches/2025-09-30/extra.ris").write_text("TY  - JOUR\nER  - \n", encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"2025-09-30/manifest\.json: file\(s\) extra\.ris in the run folder are not listed"):
        _import(project)


def test_count_mismatch_is_reconciliation_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_run(Path("resources/searches"), "2025-09-30", ["embase_ovid.ris", "ctgov.csv"], counts={"embase_ovid.ris": 4})
    with pytest.raises(ReconciliationError, match=r"embase_ovid\.ris: 3 records parsed but manifest\.json says count_in_file = 4"):
        _import(tmp_path)
    assert not (tmp_path / "results").exists()


def test_duplicate_record_id_across_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_run(Path("resources/searches"), "2025-09-30", ["ctgov.csv"])
    make_run(Path("resources/searches"), "2025-10-31", ["ctgov.csv"])
    with pytest.raises(ReconciliationError, match=r"2025-10-31/ctgov\.csv:2: record_id clinicaltrials:NCT00749203 occurs twice: also at resources/searches/2025-09-30/ctgov\.csv:2"):
        _import(tmp_path)


def test_unknown_database_names_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = make_run(Path("resources/searches"), "2025-09-30", ["ctgov.csv"], database="scopus")
    with pytest.raises(ArchiveError, match=r"resources/searches/2025-09-30/manifest\.json: unknown database 'scopus' for file ctgov\.csv"):
        _import(tmp_path)
    assert run.exists()


def test_cli_import_exit_codes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["import", "--runs", "resources/searches", "-o", "out/records.tsv", "--ledger", "out/ident.tsv"]) == 0
    out = capsys.readouterr().out
    assert "total\t13 records from 5 files" in out
    assert len(read_tsv(project / "out/records.tsv")) == 13
    manifest_path = project / "resources/searches/2025-10-31/manifest.json"
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    data["files"][0]["count_in_file"] += 1
    manifest_path.write_text(json.dumps(data), encoding="utf-8")
    assert cli.main(["import", "--runs", "resources/searches", "-o", "out/records.tsv", "--ledger", "out/ident.tsv"]) == 1
    err_lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("livingreview: error:")]
    assert len(err_lines) == 1 and err_lines[0].startswith("livingreview: error: resources/searches/2025-10-31/")


def test_no_runs_gives_empty_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    counts = run_import(runs_root="resources/searches", records_out="r.tsv", ledger_out="l.tsv")
    assert counts == []
    assert (tmp_path / "r.tsv").read_text(encoding="utf-8") == "\t".join(RECORD_FIELDS) + "\n"
    assert (tmp_path / "l.tsv").read_text(encoding="utf-8") == "\t".join(LEDGER_FIELDS) + "\n"


def test_project_snapshot_imports_with_matching_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The archived snapshot of the default review (resources/searches/2025-09-30): every file parses
    # and gives exactly the manifest's count.
    shutil.copytree(SNAPSHOT, tmp_path / "resources" / "searches")
    monkeypatch.chdir(tmp_path)
    records, counts = collect_records("resources/searches")
    assert counts, "the project has archived runs"
    for c in counts:
        assert c.parsed == c.count_in_file
    assert len(records) == sum(c.count_in_file for c in counts)
    assert all(r.source_file and r.source_line >= 1 and r.title for r in records)
    assert {r.database for r in records} >= {"pubmed", "embase", "psycinfo", "clinicaltrials"}


def test_a_manifest_hash_in_upper_case_is_the_same_hash(project: Path) -> None:
    # sha256 hex is case-blind; a hand-written manifest may spell it in capitals.
    _import(project)
    before = _outputs(project)
    manifest = project / "resources/searches/2025-10-31/manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    for entry in data["files"]:
        entry["sha256"] = entry["sha256"].upper()
    manifest.write_text(json.dumps(data, indent=2), encoding="utf-8")
    _import(project)
    assert _outputs(project) == before

# --- records an earlier run archived, listed in a later run's manifest (add-run of an overlapping export) ---


def _ris(*numbers: str) -> bytes:
    """A SYNTHETIC Ovid-style RIS export whose records carry accession numbers (AN), 5 lines each."""
    return "".join(f"TY  - JOUR\nAN  - {n}\nTI  - Synthetic test record {n} (not a real citation)\nER  - \n\n" for n in numbers).encode("utf-8")


def _an_run(root: Path, run_id: str, name: str, numbers: tuple[str, ...], already: dict[str, str] | None = None,
            found_again: dict[str, str] | None = None) -> Path:
    entry = RunFile(name=name, database="embase", platform="Ovid", format="ris", query="q", date_limits={},
                    count_reported=len(numbers) + len(found_again or {}), count_in_file=len(numbers),
                    already_archived={f"embase:{k}": v for k, v in (already or {}).items()},
                    found_again={f"embase:{k}": v for k, v in (found_again or {}).items()})
    return write_run(root, Manifest(run_id=run_id, date_run=run_id, files=[entry]), {name: _ris(*numbers)})


def _per_file_import(root: Path) -> tuple[bytes, bytes]:
    """The sharded path (one import_file per archived file, then merge_parts): records and ledger bytes."""
    for run_dir in list_runs(root):
        for f in load_manifest(run_dir).files:
            import_file(run_dir=run_dir, file_name=f.name, records_out=f"parts/r/{run_dir.name}/{f.name}.tsv", ledger_out=f"parts/l/{run_dir.name}/{f.name}.tsv")
    merge_parts(runs_root=root, parts_dir="parts/r", ledger_parts_dir="parts/l", records_out="merged.tsv", ledger_out="merged_ledger.tsv")
    return Path("merged.tsv").read_bytes(), Path("merged_ledger.tsv").read_bytes()


def _overlapping_runs(root: Path) -> None:
    _an_run(root, "2025-09-30", "october.ris", ("01", "02"))
    _an_run(root, "2025-10-31", "november.ris", ("03", "02", "01"), {"01": "2025-09-30", "02": "2025-09-30"})
    _an_run(root, "2025-11-30", "december.ris", ("04", "03", "01"), {"01": "2025-09-30", "03": "2025-10-31"})


def test_records_listed_as_already_archived_are_left_out_in_both_import_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("resources/searches")
    _overlapping_runs(root)
    counts = run_import(runs_root=root, records_out="records.tsv", ledger_out="ident.tsv")
    records = read_tsv("records.tsv", RECORD_FIELDS)
    # each record once, from the run that archived it first, at its line there
    assert [(r["record_id"], r["run_id"], r["source_file"], r["source_line"]) for r in records] == [
        ("embase:01", "2025-09-30", "resources/searches/2025-09-30/october.ris", "1"),
        ("embase:02", "2025-09-30", "resources/searches/2025-09-30/october.ris", "6"),
        ("embase:03", "2025-10-31", "resources/searches/2025-10-31/november.ris", "1"),
        ("embase:04", "2025-11-30", "resources/searches/2025-11-30/december.ris", "1"),
    ]
    ledger = read_tsv("ident.tsv", LEDGER_FIELDS)
    assert [(r["record_id"], r["evidence"]) for r in ledger] == [("embase:01", "2025-09-30"), ("embase:02", "2025-09-30"), ("embase:03", "2025-10-31"), ("embase:04", "2025-11-30")]
    # records in the file = kept + listed as already archived
    assert [(c.run_id, c.count_in_file, c.parsed, c.already_archived, c.kept) for c in counts] == [
        ("2025-09-30", 2, 2, 0, 2), ("2025-10-31", 3, 3, 2, 1), ("2025-11-30", 3, 3, 2, 1),
    ]
    # the sharded path gives the same bytes
    assert _per_file_import(root) == (Path("records.tsv").read_bytes(), Path("ident.tsv").read_bytes())


def test_a_repeated_record_the_manifest_does_not_list_is_still_the_duplicate_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("resources/searches")
    _an_run(root, "2025-09-30", "october.ris", ("01", "02"))
    _an_run(root, "2025-10-31", "november.ris", ("03", "02", "01"), {"01": "2025-09-30"})  # 02 is not listed
    expected = r"^resources/searches/2025-10-31/november\.ris:6: record_id embase:02 occurs twice: also at resources/searches/2025-09-30/october\.ris:6; fix: .*`livingreview add-run`"
    with pytest.raises(ReconciliationError, match=expected) as err:
        run_import(runs_root=root, records_out="records.tsv", ledger_out="ident.tsv")
    assert "\n" not in str(err.value)
    with pytest.raises(ReconciliationError, match=expected):
        _per_file_import(root)
    assert not any(Path(p).exists() for p in ("records.tsv", "ident.tsv", "merged.tsv", "merged_ledger.tsv"))


def test_records_a_search_found_again_must_be_archived_by_the_run_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """found_again (records a live search found but did not write) is checked as already_archived is:
    right, the import reads the run as usual; naming a run that does not archive the record stops it."""
    monkeypatch.chdir(tmp_path)
    root = Path("resources/searches")
    _an_run(root, "2025-09-30", "october.ris", ("01", "02"))
    _an_run(root, "2025-10-31", "november.ris", ("03",), found_again={"01": "2025-09-30"})
    records, counts = collect_records(root)
    assert [r.record_id for r in records] == ["embase:01", "embase:02", "embase:03"]
    assert [(c.run_id, c.count_in_file, c.count_reported, c.parsed) for c in counts] == [("2025-09-30", 2, 2, 2), ("2025-10-31", 1, 2, 1)]
    _an_run(root, "2025-11-30", "december.ris", ("04",), found_again={"03": "2025-09-30"})
    _both_imports_refuse(root, r"^resources/searches/2025-11-30/manifest\.json: december\.ris: found_again says record embase:03 is archived by run 2025-09-30, but run 2025-10-31 archives it; fix: ")


def test_a_listed_record_the_file_does_not_hold_is_an_archive_error_naming_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("resources/searches")
    _an_run(root, "2025-09-30", "october.ris", ("01", "02"))
    run = _an_run(root, "2025-10-31", "november.ris", ("03", "01"), {"01": "2025-09-30", "02": "2025-09-30"})
    expected = (r"^resources/searches/2025-10-31/manifest\.json: november\.ris: already_archived lists 1 record the file does not hold \(embase:02\); "
                r"fix: restore manifest\.json from git")
    with pytest.raises(ArchiveError, match=expected):
        run_import(runs_root=root, records_out="records.tsv", ledger_out="ident.tsv")
    with pytest.raises(ArchiveError, match=expected):
        import_file(run_dir=run, file_name="november.ris", records_out="r.tsv", ledger_out="l.tsv")
    assert not any(Path(p).exists() for p in ("records.tsv", "ident.tsv", "r.tsv", "l.tsv"))


@pytest.mark.parametrize(
    ("listed", "held"),
    [
        ({"03": "2025-09-30"}, "run 2025-10-31 archives it"),  # archived, but by another run
        ({"05": "2025-09-30"}, "no earlier run archives it"),  # archived by none
        ({"01": "2025-10-31"}, "run 2025-09-30 archives it"),  # the later run lists it too: it does not archive it
    ],
)
def test_a_listed_record_the_named_run_does_not_archive_is_an_archive_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listed: dict[str, str], held: str) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("resources/searches")
    _an_run(root, "2025-09-30", "october.ris", ("01", "02"))
    _an_run(root, "2025-10-31", "november.ris", ("03", "01"), {"01": "2025-09-30"})
    _an_run(root, "2025-11-30", "december.ris", ("04", "03", "05", "01"), {"01": "2025-09-30", **listed})
    rid, run = next(iter(listed.items()))
    _both_imports_refuse(root, rf"^resources/searches/2025-11-30/manifest\.json: december\.ris: already_archived says record embase:{rid} is archived by run {run}, but {held}; fix: ")


def _both_imports_refuse(root: Path, expected: str) -> None:
    """The whole import and the per-file path (import_file jobs, then merge_parts) stop with the same ArchiveError and write nothing."""
    with pytest.raises(ArchiveError, match=expected):
        run_import(runs_root=root, records_out="records.tsv", ledger_out="ident.tsv")
    with pytest.raises(ArchiveError, match=expected):
        _per_file_import(root)
    assert not any(Path(p).exists() for p in ("records.tsv", "ident.tsv", "merged.tsv", "merged_ledger.tsv"))


def test_cli_import_counts_the_records_written_not_those_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`livingreview import` prints per file and in total the records records.tsv gets: a file's records
    listed as already archived are left out of the numbers and named as left out (before, the total
    counted them: 8 records printed for a records.tsv of 4)."""
    monkeypatch.chdir(tmp_path)
    _overlapping_runs(Path("resources/searches"))
    assert cli.main(["import", "--runs", "resources/searches", "-o", "out/records.tsv", "--ledger", "out/ident.tsv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "resources/searches/2025-09-30/october.ris\tembase\t2 records (database reported 2)",
        "resources/searches/2025-10-31/november.ris\tembase\t1 records (database reported 3); 2 of 3 already archived by an earlier run, left out",
        "resources/searches/2025-11-30/december.ris\tembase\t1 records (database reported 3); 2 of 3 already archived by an earlier run, left out",
        "total\t4 records from 3 files -> out/records.tsv",
    ]
    assert len(read_tsv(Path("out/records.tsv"))) == 4
