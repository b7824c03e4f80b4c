"""`livingreview add-run`: archive an export as a new immutable run that the import stage reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from livingreview import cli
from livingreview.commands.add_run import add_run
from livingreview.errors import ArchiveError, ConfigError, InputFormatError
from livingreview.importer import run_import
from livingreview.runs import load_manifest, next_run_id, sha256_file, verify_run
from livingreview.tables import read_tsv

DATA = Path(__file__).parent / "data" / "parsers"
LIVINGREVIEW = str(Path(sys.executable).with_name("livingreview"))


def test_add_run_cli_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    rc = cli.main([
        "add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-09-30",
        "--query", "1. exp ketamine/", "--platform", "Ovid Embase", "--count-reported", "3", "--date-to", "2025/09/30",
    ])
    assert rc == 0
    assert "archived 3 embase records (ris) as run 2025-09-30" in capsys.readouterr().out
    run = tmp_path / "resources/searches/2025-09-30"
    manifest = verify_run(run)
    (f,) = manifest.files
    assert (manifest.run_id, manifest.date_run) == ("2025-09-30", "2025-09-30")
    assert (f.name, f.database, f.format, f.platform, f.query) == ("embase_ovid.ris", "embase", "ris", "Ovid Embase", "1. exp ketamine/")
    assert (f.count_in_file, f.count_reported, f.encoding, f.date_limits) == (3, 3, "utf-8-sig", {"to": "2025/09/30"})
    assert f.sha256 == sha256_file(DATA / "embase_ovid.ris")  # archived byte for byte
    # a second export the same day becomes 2025-09-30-2, detected as PubMed XML (gzip)
    assert cli.main(["add-run", "--database", "pubmed", "--file", str(DATA / "pubmed_ugly.xml.gz"), "--date", "2025-09-30"]) == 0
    second = load_manifest(tmp_path / "resources/searches/2025-09-30-2")
    assert second.files[0].format == "pubmed_xml" and second.files[0].count_in_file == 4
    # the import reads both runs
    run_import(runs_root="resources/searches", records_out="records.tsv", ledger_out="ident.tsv")
    rows = read_tsv(tmp_path / "records.tsv")
    assert len(rows) == 7
    assert {r["run_id"] for r in rows} == {"2025-09-30", "2025-09-30-2"}
    assert "embase:2025-09-30#1" in {r["record_id"] for r in rows}
    assert all(r["source_file"].startswith("resources/searches/2025-09-30") and int(r["source_line"]) >= 1 for r in rows)


def test_add_run_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [LIVINGREVIEW, "add-run", "--database", "clinicaltrials", "--file", str(DATA / "ctgov.csv"), "--date", "2025-10-01", "--root", "runs"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "runs/2025-10-01/manifest.json").read_text(encoding="utf-8"))
    assert data["files"][0]["format"] == "ctgov_csv" and data["files"][0]["count_in_file"] == 2
    assert data["files"][0]["platform"] == "ClinicalTrials.gov"


def test_add_run_bad_file_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    rc = cli.main(["add-run", "--database", "embase", "--file", str(DATA / "truncated.ris"), "--date", "2025-09-30", "--root", str(root)])
    assert rc == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("livingreview: error:")]
    assert len(err) == 1 and "truncated.ris:37: record starting at line 37 has no ER line" in err[0]
    assert not root.exists() or not any(root.iterdir())


def test_add_run_duplicate_ids_in_file(tmp_path: Path) -> None:
    p = tmp_path / "dup.csv"
    p.write_text("record_id,title\n1,Synthetic one\n1,Synthetic again\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"dup\.csv:3: record id other:1 occurs twice \(first at line 2\)"):
        add_run(root=tmp_path / "runs", database="other", file=p, date="2025-09-30")
    assert not (tmp_path / "runs" / "2025-09-30").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"database": "scopus"}, "unknown database 'scopus'"),
        ({"date": "30/09/2025"}, "is not YYYY-MM-DD"),
        ({"date": "2025-02-30"}, "is not a calendar date"),
        ({"fmt": "bibtex"}, "unknown format 'bibtex'"),
    ],
)
def test_add_run_rejects_bad_options(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    args = {"root": tmp_path / "runs", "database": "clinicaltrials", "file": DATA / "ctgov.csv", "date": "2025-09-30"} | kwargs
    with pytest.raises(ConfigError, match=message):
        add_run(**args)
    assert not (tmp_path / "runs" / "2025-09-30").exists()


def test_next_run_id(tmp_path: Path) -> None:
    assert next_run_id(tmp_path, "2025-09-30") == "2025-09-30"
    (tmp_path / "2025-09-30").mkdir()
    (tmp_path / "2025-09-30-2").mkdir()
    assert next_run_id(tmp_path, "2025-09-30") == "2025-09-30-3"
    # a gap left by a deleted run is not reused: 2025-09-30-2 would sort before the day's -3
    (tmp_path / "2025-09-30-2").rmdir()
    (tmp_path / "2025-09-30-3").mkdir()
    assert next_run_id(tmp_path, "2025-09-30") == "2025-09-30-4"
    assert next_run_id(tmp_path, "2025-10-01") == "2025-10-01"
    assert next_run_id(tmp_path / "absent", "2025-09-30") == "2025-09-30"


def test_add_run_refuses_manifest_name(tmp_path: Path) -> None:
    p = tmp_path / "manifest.json"
    p.write_bytes((DATA / "ctgov.csv").read_bytes())
    with pytest.raises(InputFormatError, match="cannot be archived under the name 'manifest.json'"):
        add_run(root=tmp_path / "runs", database="clinicaltrials", file=p, date="2025-09-30")


def test_add_run_refuses_a_name_snakemake_reads_as_a_wildcard(tmp_path: Path) -> None:
    """A name with braces would be archived for good, and then every `snakemake` would stop with a
    WildcardError: the export is refused before anything is written."""
    p = tmp_path / "embase {2025}.ris"
    p.write_bytes((DATA / "embase_ovid.ris").read_bytes())
    with pytest.raises(InputFormatError, match=r"cannot be archived under the name 'embase \{2025\}\.ris' \(Snakemake reads '\{' and '\}'"):
        add_run(root=tmp_path / "runs", database="embase", file=p, date="2025-09-30")
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize("name", ["embase\nexport.ris", "embase\texport.ris"])
def test_add_run_refuses_a_name_with_a_control_character_and_a_manifest_naming_one_is_an_error(tmp_path: Path, name: str) -> None:
    """An export named with a newline or a tab was archived; records.tsv, the ledger and the report then
    named it with a space instead ("embase export.ris"), a file that does not exist for trace or an
    auditor to open. add-run refuses the name, and a manifest listing one does not load."""
    p = tmp_path / name
    p.write_bytes((DATA / "embase_ovid.ris").read_bytes())
    with pytest.raises(InputFormatError) as err:
        add_run(root=tmp_path / "runs", database="embase", file=p, date="2025-09-30")
    assert str(err.value).startswith(
        f"{' '.join(str(p).split())}: the export cannot be archived under the name {name!r} (a newline, tab or other control "
        "character cannot be written in records.tsv, the ledger or the report); fix: rename the export"
    )
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []

    ok = tmp_path / "embase.ris"
    ok.write_bytes(p.read_bytes())
    run_dir = add_run(root=tmp_path / "runs", database="embase", file=ok, date="2025-09-30").path
    manifest = run_dir / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["files"][0]["name"] = name
    manifest.write_text(json.dumps(data), encoding="utf-8")
    (run_dir / "embase.ris").rename(run_dir / name)
    with pytest.raises(ArchiveError) as bad:
        load_manifest(run_dir)
    assert f"field 'files[0].name' (embase export.ris) must be a file name in the run folder (a JSON string, no '/', '\\' or control character such as a newline or tab, not manifest.json), not {json.dumps(name)}" in str(bad.value)


def test_add_run_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match=r"nope\.ris: file not found"):
        add_run(root=tmp_path, database="embase", file=tmp_path / "nope.ris", date="2025-09-30")


def test_an_interrupted_attempt_is_cleaned_before_the_next_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A run folder half-written by a killed update (write_run's temporary .partial folder) never
    becomes a run, and the next add-run removes it before archiving."""
    root = tmp_path / "runs"
    stale = root / ".2025-10-01.x1y2.partial"
    stale.mkdir(parents=True)
    (stale / "embase_ovid.ris").write_text("TY  - JOUR\n", encoding="utf-8")
    caplog.set_level("WARNING", logger="livingreview")
    path, count, *_ = add_run(root=root, database="embase", file=DATA / "embase_ovid.ris", date="2025-10-01")
    assert not stale.exists() and "interrupted" in caplog.text
    assert path == root / "2025-10-01" and count == 3
    assert sorted(p.name for p in root.iterdir()) == ["2025-10-01"]


# --- default platform from the config; warnings for details left unrecorded --------------------

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
ADD_RUN_WARNING = "WARNING livingreview.add_run: run "


def _warnings(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith(ADD_RUN_WARNING)]


def test_platform_defaults_to_the_configured_platform_of_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    rc = cli.main([
        "add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31",
        "--root", str(root), "--config", str(CONFIG),
    ])
    assert rc == 0
    assert load_manifest(root / "2025-10-31").files[0].platform == "Ovid Embase"
    # psycinfo has its own platform in config searches.sources
    path, *_ = add_run(root=root, database="psycinfo", file=DATA / "embase_ovid.ris", date="2025-10-31", config_path=CONFIG)
    assert load_manifest(path).files[0].platform == "Ovid APA PsycInfo"
    # --platform wins over the config
    path, *_ = add_run(root=root, database="embase", file=_later_export(tmp_path, DATA / "embase_ovid.ris"), date="2025-10-31", config_path=CONFIG,
                         platform_name="Embase.com")
    assert load_manifest(path).files[0].platform == "Embase.com"


def test_platform_of_a_database_the_config_does_not_name(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    # medline is not in searches.sources: not recorded
    path, *_ = add_run(root=root, database="medline", file=DATA / "embase_ovid.ris", date="2025-10-31", config_path=CONFIG)
    assert load_manifest(path).files[0].platform == "not recorded"
    # pubmed's configured platform is the live E-utilities search, not where an export came from
    path, *_ = add_run(root=root, database="pubmed", file=DATA / "pubmed_ugly.xml.gz", date="2025-10-31", config_path=CONFIG)
    assert load_manifest(path).files[0].platform == "PubMed"
    # without a config: the built-in defaults
    path, *_ = add_run(root=root, database="embase", file=DATA / "embase_ovid.ris", date="2025-10-31")
    assert load_manifest(path).files[0].platform == "not recorded"


def test_default_config_is_read_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_bytes(CONFIG.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert cli.main(["add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31"]) == 0
    assert load_manifest(tmp_path / "resources/searches/2025-10-31").files[0].platform == "Ovid Embase"


def test_a_missing_config_given_explicitly_is_an_error_and_nothing_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    rc = cli.main([
        "add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31",
        "--root", str(root), "--config", str(tmp_path / "nope.yaml"),
    ])
    assert rc == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("livingreview: error:")]
    assert len(err) == 1 and "nope.yaml: file not found" in err[0]
    assert not root.exists() or not any(root.iterdir())


def test_add_run_warns_about_each_detail_left_unrecorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    rc = cli.main([
        "add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31",
        "--root", str(root), "--config", str(CONFIG),
    ])
    assert rc == 0
    captured = capsys.readouterr()
    assert "archived 3 embase records (ris) as run 2025-10-31" in captured.out and "WARNING" not in captured.out
    (line,) = _warnings(captured.err)
    assert line.startswith(
        "WARNING livingreview.add_run: run 2025-10-31 (embase_ovid.ris) was archived without: the query as run (--query), "
        "the date limits (--date-from/--date-to), the number of hits the database reported (--count-reported); "
    )
    assert "the report's search table says 'not reported'" in line and "--platform" not in line
    (f,) = load_manifest(root / "2025-10-31").files
    assert (f.query, f.date_limits, f.count_reported) == ("", {}, None)


def test_add_run_warns_about_an_unrecorded_platform_and_a_half_date_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main([
        "add-run", "--database", "other", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31",
        "--root", str(tmp_path / "runs"), "--query", "ketamine AND PTSD", "--count-reported", "3", "--date-to", "2025/10/31",
    ])
    assert rc == 0
    (line,) = _warnings(capsys.readouterr().err)
    assert "was archived without: the start date limit (--date-from), the platform (--platform); " in line
    assert "--query" not in line and "--count-reported" not in line


def test_add_run_with_every_detail_gives_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main([
        "add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31",
        "--root", str(tmp_path / "runs"), "--config", str(CONFIG), "--query", "1. exp ketamine/",
        "--count-reported", "3", "--date-from", "inception", "--date-to", "2025/10/31",
    ])
    assert rc == 0
    assert _warnings(capsys.readouterr().err) == []
    (f,) = load_manifest(tmp_path / "runs/2025-10-31").files
    assert (f.platform, f.query, f.count_reported, f.date_limits) == ("Ovid Embase", "1. exp ketamine/", 3, {"from": "inception", "to": "2025/10/31"})


def test_no_warning_when_the_archive_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["add-run", "--database", "embase", "--file", str(DATA / "truncated.ris"), "--date", "2025-09-30", "--root", str(tmp_path / "runs")])
    assert rc == 1
    assert _warnings(capsys.readouterr().err) == []


# --- --date-from / --date-to are checked before anything is written -------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--date-to", "30/09/2025"),
        ("--date-to", "2025/13/01"),
        ("--date-to", "2025-02-30"),
        ("--date-to", "inception"),
        ("--date-to", "Sept 2025"),
        ("--date-to", " "),
        ("--date-from", "yesterday"),
        ("--date-from", "2025/9/1"),
        ("--date-from", "2025/00"),
    ],
)
def test_a_bad_date_limit_is_refused_in_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    root = tmp_path / "runs"
    rc = cli.main([
        "add-run", "--database", "pubmed", "--file", str(DATA / "pubmed_ugly.xml.gz"), "--date", "2025-10-31",
        "--root", str(root), option, value,
    ])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    accepted = "YYYY/MM/DD, YYYY-MM-DD, YYYY/MM or YYYY" + (", or inception" if option == "--date-from" else "")
    assert err[0].startswith(f"livingreview: error: {option}: {option} {value!r} is not a date limit; fix: write it as {accepted}")
    assert not root.exists() or not any(root.iterdir())


def test_a_date_range_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--date-from '2025/10' is after --date-to '2025/09/30'"):
        add_run(root=tmp_path / "runs", database="pubmed", file=DATA / "pubmed_ugly.xml.gz", date="2025-10-31", date_from="2025/10", date_to="2025/09/30")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    ("date_from", "date_to", "stored"),
    [
        ("inception", "2025/10/31", {"from": "inception", "to": "2025/10/31"}),
        ("Inception", "2025-10-31", {"from": "inception", "to": "2025/10/31"}),
        ("2025-09-30", "2025/10", {"from": "2025/09/30", "to": "2025/10"}),
        ("2024", "2025", {"from": "2024", "to": "2025"}),
        ("", "2025/10/31", {"to": "2025/10/31"}),
    ],
)
def test_accepted_date_limits_are_stored_in_ncbi_form(tmp_path: Path, date_from: str, date_to: str, stored: dict[str, str]) -> None:
    path, *_ = add_run(root=tmp_path / "runs", database="pubmed", file=DATA / "pubmed_ugly.xml.gz", date="2025-10-31", date_from=date_from, date_to=date_to)
    assert load_manifest(path).files[0].date_limits == stored


def test_a_file_that_is_not_ris_is_refused_not_archived_as_zero_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "embase.ris"
    p.write_text("TY   - JOUR\nTI   - Synthetic title\nER   - \n", encoding="utf-8")
    root = tmp_path / "runs"
    rc = cli.main(["add-run", "--database", "embase", "--file", str(p), "--format", "ris", "--date", "2025-09-30", "--root", str(root)])
    assert rc == 1
    captured = capsys.readouterr()
    err = [ln for ln in captured.err.splitlines() if ln.startswith("livingreview: error:")]
    assert len(err) == 1 and "embase.ris:1: no RIS record in the file" in err[0] and "'TY - JOUR' (3 spaces between the tag" in err[0]
    assert "archived" not in captured.out
    assert not root.exists() or not any(root.iterdir())


# --- the count in the file against the count the database reported --------------------------------
def test_add_run_warns_when_the_file_holds_fewer_records_than_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = (DATA / "pubmed.nbib").read_bytes()
    p = tmp_path / "pubmed.nbib"
    p.write_bytes(data[: data.index(b"PG  - 681-8")])  # cut inside record 2, after its title: 2 of 3 records
    root = tmp_path / "runs"
    rc = cli.main([
        "add-run", "--database", "pubmed", "--file", str(p), "--date", "2025-10-31", "--root", str(root),
        "--query", "ketamine AND PTSD", "--count-reported", "3", "--date-from", "inception", "--date-to", "2025/10/31",
    ])
    assert rc == 0
    captured = capsys.readouterr()
    assert "archived 2 pubmed records (medline)" in captured.out
    (line,) = _warnings(captured.err)
    assert line.startswith(
        "WARNING livingreview.add_run: run 2025-10-31 (pubmed.nbib) holds 2 records but the database reported 3 (--count-reported)"
    )
    assert "cut off" in line
    (f,) = load_manifest(root / "2025-10-31").files
    assert (f.count_in_file, f.count_reported) == (2, 3)


def test_add_run_cut_before_the_last_title_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = (DATA / "pubmed.nbib").read_bytes()
    p = tmp_path / "pubmed.nbib"
    p.write_bytes(data[: data.index(b"DP  - 2014") + len(b"DP  - 20")])
    root = tmp_path / "runs"
    rc = cli.main(["add-run", "--database", "pubmed", "--file", str(p), "--date", "2025-10-31", "--root", str(root), "--count-reported", "3"])
    assert rc == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("livingreview: error:")]
    assert len(err) == 1 and "pubmed.nbib:32: the last record (PMID 24740528) has no title (TI)" in err[0]
    assert not root.exists() or not any(root.iterdir())


def test_add_run_warns_when_the_file_holds_more_records_than_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main([
        "add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31",
        "--root", str(tmp_path / "runs"), "--config", str(CONFIG), "--query", "1. exp ketamine/",
        "--count-reported", "2", "--date-from", "inception", "--date-to", "2025/10/31",
    ])
    assert rc == 0
    (line,) = _warnings(capsys.readouterr().err)
    assert "run 2025-10-31 (embase_ovid.ris) holds 3 records but the database reported 2 (--count-reported); " in line
    assert "mistyped" in line


def test_the_default_root_is_the_configs_searches_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # `search pubmed` and Snakemake read runs from searches.root: an export must join them there,
    # not in resources/searches where the review never reads it.
    text = CONFIG.read_text(encoding="utf-8")
    assert "\n  root: resources/searches\n" in text
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(text.replace("\n  root: resources/searches\n", "\n  root: archive/runs\n"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31"]) == 0
    assert "as run 2025-10-31: archive/runs/2025-10-31" in capsys.readouterr().out
    assert verify_run(tmp_path / "archive/runs/2025-10-31").files[0].platform == "Ovid Embase"
    assert not (tmp_path / "resources").exists()


def test_an_export_dated_before_the_newest_run_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A person archives an Embase search of 15 October after the update run of 31 October: slotted
    # before it, its records would become the first of that run's clusters and rewrite them.
    root = tmp_path / "runs"
    assert cli.main(["add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-31", "--root", str(root)]) == 0
    before = sorted(p.name for p in root.iterdir())
    capsys.readouterr()
    code = cli.main(["add-run", "--database", "embase", "--file", str(DATA / "embase_ovid.ris"), "--date", "2025-10-15", "--root", str(root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"livingreview: error: {root / '2025-10-15'}: run 2025-10-15 would come before run 2025-10-31, archived already")
    assert "fix: give --date the day you archive it" in err[0]
    assert sorted(p.name for p in root.iterdir()) == before
    # the same day as the newest run is a later run of that day
    later = _later_export(tmp_path, DATA / "embase_ovid.ris")
    assert cli.main(["add-run", "--database", "embase", "--file", str(later), "--date", "2025-10-31", "--root", str(root)]) == 0
    assert sorted(p.name for p in root.iterdir()) == ["2025-10-31", "2025-10-31-2"]


def _later_export(tmp_path: Path, export: Path) -> Path:
    """A later export of the same search: the same records, not the same bytes (one more blank line)."""
    later = tmp_path / "later" / export.name
    later.parent.mkdir(exist_ok=True)
    later.write_bytes(export.read_bytes() + b"\n")
    return later


def test_the_same_export_archived_twice_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Records without ids (Ovid RIS without AN) cannot be recognised as archived, so the same file
    # archived again would add every record a second time.
    root = tmp_path / "runs"
    export = DATA / "embase_ovid.ris"
    assert cli.main(["add-run", "--database", "embase", "--file", str(export), "--date", "2025-10-31", "--root", str(root)]) == 0
    capsys.readouterr()
    assert cli.main(["add-run", "--database", "embase", "--file", str(export), "--date", "2025-11-30", "--root", str(root)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"livingreview: error: {export}: this export is byte for byte the embase file archived as {(root / '2025-10-31' / export.name).as_posix()}")
    assert "fix: nothing was written" in line
    assert sorted(p.name for p in root.iterdir()) == ["2025-10-31"]
    # the same bytes exported from another database are that database's records
    assert cli.main(["add-run", "--database", "psycinfo", "--file", str(export), "--date", "2025-11-30", "--root", str(root)]) == 0


def _ris_with_accession(*numbers: str) -> str:
    return "".join(f"TY  - JOUR\nAN  - {n}\nTI  - Synthetic test record {n} (not a real citation)\nER  - \n\n" for n in numbers)


def test_an_export_overlapping_earlier_runs_is_archived_byte_for_byte_with_the_overlap_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Ovid exports carry accession numbers (AN), PubMed exports PMIDs, ClinicalTrials.gov NCT numbers:
    # they are the record ids. A monthly export overlapping the last one (the boundary day searched
    # again) is archived as the database returned it; the manifest lists the records earlier runs
    # archived and the import leaves them out of the new run, as `search pubmed` does.
    root = tmp_path / "runs"
    first = tmp_path / "october.ris"
    first.write_text(_ris_with_accession("2031000001", "2031000002"), encoding="utf-8")
    second = tmp_path / "november.ris"
    second.write_text(_ris_with_accession("2031000003", "2031000002", "2031000001"), encoding="utf-8")
    third = tmp_path / "december.ris"
    third.write_text(_ris_with_accession("2031000004", "2031000003", "2031000001"), encoding="utf-8")
    assert cli.main(["add-run", "--database", "embase", "--file", str(first), "--date", "2025-10-31", "--root", str(root)]) == 0
    capsys.readouterr()
    assert cli.main(["add-run", "--database", "embase", "--file", str(second), "--date", "2025-11-30", "--root", str(root), "--count-reported", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (f"archived 3 embase records (ris) as run 2025-11-30: {root / '2025-11-30'}; "
                            "2 already archived, left out by the import (2025-10-31 (2))\n")
    assert "already archived" not in captured.err  # said once, in the result line on stdout (as every command's result)
    assert sha256_file(root / "2025-11-30" / "november.ris") == sha256_file(second)  # byte for byte
    data = json.loads((root / "2025-11-30" / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = data["files"]
    assert list(entry["already_archived"].items()) == [("embase:2031000001", "2025-10-31"), ("embase:2031000002", "2025-10-31")]
    assert (entry["count_in_file"], entry["count_reported"]) == (3, 3)  # every record of the file: no count warning
    assert entry["notes"] == "archived with livingreview add-run; 2 of 3 records in this file are already archived and left out: 2025-10-31 (2)"
    # a later export names the run that archived each record (2031000001 the first, 2031000003 the second)
    assert cli.main(["add-run", "--database", "embase", "--file", str(third), "--date", "2025-12-31", "--root", str(root), "--notes", "boundary day searched again"]) == 0
    entry = load_manifest(root / "2025-12-31").files[0]
    assert entry.already_archived == {"embase:2031000001": "2025-10-31", "embase:2031000003": "2025-11-30"}
    assert entry.notes == "boundary day searched again; 2 of 3 records in this file are already archived and left out: 2025-10-31 (1), 2025-11-30 (1)"
    # the same accession numbers from another database are other records: nothing listed
    assert cli.main(["add-run", "--database", "psycinfo", "--file", str(second), "--date", "2025-12-31", "--root", str(root)]) == 0
    assert load_manifest(root / "2025-12-31-2").files[0].already_archived == {}
    # the import gives each record once, from the run that archived it first
    run_import(runs_root=root, records_out=tmp_path / "records.tsv", ledger_out=tmp_path / "ident.tsv")
    rows = read_tsv(tmp_path / "records.tsv")
    assert [(r["record_id"], r["run_id"]) for r in rows if r["record_id"].startswith("embase:")] == [
        ("embase:2031000001", "2025-10-31"), ("embase:2031000002", "2025-10-31"), ("embase:2031000003", "2025-11-30"), ("embase:2031000004", "2025-12-31"),
    ]
    assert sum(r["record_id"].startswith("psycinfo:") for r in rows) == 3


def test_an_export_holding_nothing_new_writes_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # as `search pubmed` writes no run when everything it finds is archived already
    root = tmp_path / "runs"
    export = tmp_path / "october.ris"
    export.write_text(_ris_with_accession("2031000001", "2031000002"), encoding="utf-8")
    assert cli.main(["add-run", "--database", "embase", "--file", str(export), "--date", "2025-10-31", "--root", str(root)]) == 0
    again = tmp_path / "november.ris"
    again.write_text(_ris_with_accession("2031000002", "2031000001"), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["add-run", "--database", "embase", "--file", str(again), "--date", "2025-11-30", "--root", str(root), "--count-reported", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"no new records: all 2 embase records of {again} are already archived (2025-10-31 (2)); no run was written\n"
    # said once, on stdout as every command's result line (was repeated as an INFO line on stderr);
    # no warning about details of a run that was not written
    assert captured.err == ""
    assert sorted(p.name for p in root.iterdir()) == ["2025-10-31"]


def test_a_pubmed_export_overlapping_an_archived_pubmed_run(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    add_run(root=root, database="pubmed", file=DATA / "pubmed.nbib", date="2025-10-31")
    # the same export again adds nothing; an XML export sharing two PMIDs adds the other two records
    again = add_run(root=root, database="pubmed", file=DATA / "pubmed.nbib", date="2025-11-30")
    assert again.path is None and (again.count, again.kept) == (3, 0)
    assert sorted(p.name for p in root.iterdir()) == ["2025-10-31"]
    result = add_run(root=root, database="pubmed", file=DATA / "pubmed_ugly.xml.gz", date="2025-11-30")
    assert result.path == root / "2025-11-30" and (result.count, result.kept, result.format) == (4, 2, "pubmed_xml")
    assert result.already_archived == {"pubmed:24740528": "2025-10-31", "pubmed:35046508": "2025-10-31"}
    assert load_manifest(result.path).files[0].already_archived == result.already_archived
    run_import(runs_root=root, records_out=tmp_path / "records.tsv", ledger_out=tmp_path / "ident.tsv")
    assert sorted((r["record_id"], r["run_id"]) for r in read_tsv(tmp_path / "records.tsv")) == sorted([
        ("pubmed:18208917", "2025-10-31"), ("pubmed:24740528", "2025-10-31"), ("pubmed:35046508", "2025-10-31"),
        ("pubmed:18376165", "2025-11-30"), ("pubmed:2025-11-30#4", "2025-11-30"),  # the XML record without a PMID gets an id of its run
    ])


def test_a_negative_count_reported_is_an_error_naming_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    code = cli.main(["add-run", "--database", "clinicaltrials", "--file", str(DATA / "ctgov.csv"), "--date", "2025-10-31", "--root", str(root), "--count-reported", "-3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("livingreview: error: --count-reported: --count-reported -3 is negative; fix: give the number of hits the database reported")
    assert "manifest.json" not in err[0]
    assert not root.exists() or list(root.iterdir()) == []


def test_an_overlapping_export_archived_meanwhile_by_another_add_run_stops_this_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Two add-runs at once: the second scans the archive, the first archives a run holding one of its
    # records before the second takes the runs lock. Under the lock the second sees that run and
    # writes nothing (before, both runs were archived and every later import stopped on the record).
    import livingreview.commands.add_run as add_run_module

    root = tmp_path / "runs"
    first = tmp_path / "first.ris"
    first.write_text(_ris_with_accession("2031000001"), encoding="utf-8")
    assert cli.main(["add-run", "--database", "embase", "--file", str(first), "--date", "2025-10-31", "--root", str(root)]) == 0
    other = tmp_path / "other.ris"
    other.write_text(_ris_with_accession("2031000002", "2031000003"), encoding="utf-8")
    mine = tmp_path / "mine.ris"
    mine.write_text(_ris_with_accession("2031000001", "2031000003", "2031000004"), encoding="utf-8")
    scan = add_run_module.archived_record_ids

    def scan_then_another_add_run(*args: object, **kwargs: object) -> dict[str, str]:
        found = scan(*args, **kwargs)
        monkeypatch.setattr(add_run_module, "archived_record_ids", scan)  # the other add-run scans as usual
        add_run(root=root, database="embase", file=other, date="2025-11-29")
        return found

    monkeypatch.setattr(add_run_module, "archived_record_ids", scan_then_another_add_run)
    capsys.readouterr()
    assert cli.main(["add-run", "--database", "embase", "--file", str(mine), "--date", "2025-11-30", "--root", str(root)]) == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("livingreview: error:")]  # the other add-run's warning aside
    assert line.startswith(f"livingreview: error: {root / '2025-11-29'}: 1 record(s) of the export {mine} (first embase:2031000003) were archived by run 2025-11-29 while this one was being made")
    assert "fix: nothing was written; run the command again" in line
    assert sorted(p.name for p in root.iterdir()) == ["2025-10-31", "2025-11-29"]  # no run, no temporary folder
    # run again, it lists both earlier runs' records and the import gives each record once
    result = add_run(root=root, database="embase", file=mine, date="2025-11-30")
    assert result.already_archived == {"embase:2031000001": "2025-10-31", "embase:2031000003": "2025-11-29"}
    run_import(runs_root=root, records_out=tmp_path / "records.tsv", ledger_out=tmp_path / "ident.tsv")
    assert [(r["record_id"], r["run_id"]) for r in read_tsv(tmp_path / "records.tsv")] == [
        ("embase:2031000001", "2025-10-31"), ("embase:2031000002", "2025-11-29"), ("embase:2031000003", "2025-11-29"), ("embase:2031000004", "2025-11-30"),
    ]


def test_add_run_refuses_a_ctgov_export_with_a_malformed_nct_number_and_archives_nothing(tmp_path: Path) -> None:
    """The NCT id cut short by a hand edit (SYNTHETIC): refused naming the file and line before the run is written."""
    p = tmp_path / "ctgov.csv"
    p.write_text((DATA / "ctgov.csv").read_text(encoding="utf-8").replace("\nNCT04322968,", "\nNCT0432296,", 1), encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"ctgov\.csv:3: column 'NCT Number' is 'NCT0432296', not a ClinicalTrials\.gov id \(NCT and 8 digits\); fix: "):
        add_run(root=tmp_path / "runs", database="clinicaltrials", file=p, date="2025-09-30")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
