"""runs.py: an archived run folder is written whole, with the folder mode mkdir would give."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from livingreview.errors import ArchiveError
from livingreview.runs import (
    MANIFEST,
    Manifest,
    RunFile,
    already_archived_note,
    list_runs,
    load_manifest,
    run_sort_key,
    sha256_file,
    verify_run,
    write_run,
)
from livingreview.tables import umask_mode


def test_write_run_folder_mode_and_files(tmp_path: Path) -> None:
    body = b"TY  - JOUR\nTI  - A title\nER  - \n"
    entry = RunFile(
        name="db.ris", database="psycinfo", platform="Ovid", format="ris", query="ketamine", date_limits={"to": "2025/09/30"},
        count_reported=1, count_in_file=1,
    )
    final = write_run(tmp_path / "searches", Manifest(run_id="2025-09-30", date_run="2025-09-30", files=[entry]), {"db.ris": body})
    reference = tmp_path / "plain"
    reference.mkdir()
    assert stat.S_IMODE(os.stat(final).st_mode) == stat.S_IMODE(os.stat(reference).st_mode) == umask_mode(0o777)
    assert sorted(p.name for p in final.iterdir()) == ["db.ris", MANIFEST]
    assert (final / "db.ris").read_bytes() == body
    assert not list((tmp_path / "searches").glob(".*.partial"))
    verify_run(final)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"run_id": "r", "date_run": "2025-09-30", "files": ["db.ris"]}', "no 'files' list of file entries"),
        ('["not", "a", "manifest"]', "no 'files' list of file entries"),
        ('{"run_id": "r",\n "files": [}', r"manifest\.json:2: not valid JSON"),
        ('{"run_id": "r", "files": []}', "manifest lacks 'date_run'"),
    ],
)
def test_load_manifest_bad_shapes_are_archive_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / MANIFEST).write_text(text, encoding="utf-8")
    with pytest.raises(ArchiveError, match=message):
        load_manifest(tmp_path)


DROP = object()  # _entry(field=DROP): the entry without that field


def _entry(**changes: object) -> dict[str, object]:
    entry = RunFile(
        name="db.ris", database="psycinfo", platform="Ovid", format="ris", query="ketamine", date_limits={"to": "2025/09/30"},
        count_reported=3, count_in_file=3,
    ).to_json()
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not DROP}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([_entry(count_in_file="many")], r"field 'files\[0\]\.count_in_file' \(db\.ris\) must be a whole number >= 0, not \"many\""),
        ([_entry(count_in_file=True)], r"'files\[0\]\.count_in_file' \(db\.ris\) must be a whole number >= 0, not true"),
        ([_entry(count_in_file=-1)], r"'files\[0\]\.count_in_file' \(db\.ris\) must be a whole number >= 0, not -1"),
        ([_entry(count_in_file=2.5)], r"'files\[0\]\.count_in_file' \(db\.ris\) must be a whole number"),
        ([_entry(), _entry(name="b.ris", count_reported="12")], r"'files\[1\]\.count_reported' \(b\.ris\) must be a whole number >= 0 or null, not \"12\""),
        ([_entry(date_limits=["2025/09/30"])], r"'files\[0\]\.date_limits' \(db\.ris\) must be a JSON object of strings"),
        ([_entry(query=["ketamine"])], r"'files\[0\]\.query' \(db\.ris\) must be a JSON string"),
        ([_entry(name="../escape.ris")], r"'files\[0\]\.name' \(\.\./escape\.ris\) must be a file name in the run folder"),
        ([_entry(name=7)], r"'files\[0\]\.name' must be a file name in the run folder .*, not 7"),
        ([_entry(count_in_file=DROP)], r"manifest lacks 'files\[0\]\.count_in_file' \(db\.ris\)"),
        ([_entry(), _entry()], r"file db\.ris is listed twice \(files\[1\]\.name\)"),
        ([_entry(already_archived=["psycinfo:1"])], r"'files\[0\]\.already_archived' \(db\.ris\) must be a JSON object of strings"),
        ([_entry(already_archived={"psycinfo:1": 20250831})], r"'files\[0\]\.already_archived' \(db\.ris\) must be a JSON object of strings"),
        ([_entry(already_archived={"embase:1": "2025-08-31"})], r"'files\[0\]\.already_archived' \(db\.ris\) names 'embase:1', not a record id of database psycinfo"),
        ([_entry(already_archived={"psycinfo:1": "last month"})], r"gives 'last month' as the run that archived psycinfo:1: not a run id before this run 2025-09-30"),
        ([_entry(already_archived={"psycinfo:1": "2025-09-30"})], r"gives '2025-09-30' as the run that archived psycinfo:1: not a run id before this run 2025-09-30"),
        ([_entry(already_archived={"psycinfo:1": "2025-10-31"})], r"gives '2025-10-31' as the run that archived psycinfo:1: not a run id before"),
        ([_entry(count_in_file=1, already_archived={"psycinfo:1": "2025-08-31", "psycinfo:2": "2025-08-31"})],
         r"'files\[0\]\.already_archived' \(db\.ris\) lists 2 records but count_in_file is 1"),
        # a live search's found_again: records found but not written to the file, checked the same way
        ([_entry(found_again={"pubmed:1": "2025-08-31"})], r"'files\[0\]\.found_again' \(db\.ris\) names 'pubmed:1', not a record id of database psycinfo"),
        ([_entry(found_again={"psycinfo:1": "2025-09-30"})], r"gives '2025-09-30' as the run that archived psycinfo:1: not a run id before this run 2025-09-30"),
        ([_entry(count_reported=4, found_again={"psycinfo:1": "2025-08-31", "psycinfo:2": "2025-08-31"})],
         r"'files\[0\]\.found_again' \(db\.ris\) lists 2 records but the database reported 4 and count_in_file is 3"),
        ([_entry(count_reported=4, found_again={"psycinfo:1": "2025-08-31"}, already_archived={"psycinfo:1": "2025-08-31"})],
         r"files\[0\] \(db\.ris\) lists psycinfo:1 both as in the file \(already_archived\) and as not written to it \(found_again\)"),
    ],
)
def test_manifest_field_types_are_checked_naming_manifest_and_field(tmp_path: Path, entries: list[dict[str, object]], message: str) -> None:
    manifest = {"run_id": "2025-09-30", "date_run": "2025-09-30", "files": entries}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArchiveError, match=message) as err:
        load_manifest(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / MANIFEST}: ")
    assert "; fix: restore manifest.json from git" in str(err.value)


@pytest.mark.parametrize(("key", "value", "words"), [("run_id", 20250930, "a JSON string"), ("tool_versions", {"x": 1}, "a JSON object of strings")])
def test_manifest_top_level_types_are_checked(tmp_path: Path, key: str, value: object, words: str) -> None:
    manifest = {"run_id": "2025-09-30", "date_run": "2025-09-30", "files": [_entry()], key: value}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArchiveError, match=rf"field '{key}' must be {words}"):
        load_manifest(tmp_path)


def test_runs_of_one_day_are_listed_in_the_order_they_were_made(tmp_path: Path) -> None:
    names = ["2025-09-30", "2025-09-30-2", "2025-09-30-10", "2025-10-01", "2025-09-30-3"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST).write_text("{}", encoding="utf-8")
    assert [p.name for p in list_runs(tmp_path)] == ["2025-09-30", "2025-09-30-2", "2025-09-30-3", "2025-09-30-10", "2025-10-01"]
    assert sorted(names, key=run_sort_key) == [p.name for p in list_runs(tmp_path)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count_reported": -1}, r"field 'files\[0\].count_reported' \(db.ris\) must be a whole number >= 0 or null, not -1"),
        ({"name": "a\\b.ris"}, r"field 'files\[0\].name' .* no '/' or '\\'"),
    ],
)
def test_write_run_refuses_a_manifest_that_would_not_load(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    fields = {"name": "db.ris", "database": "psycinfo", "platform": "Ovid", "format": "ris", "query": "ketamine", "date_limits": {}, "count_reported": 1, "count_in_file": 1}
    entry = RunFile(**{**fields, **changes})  # type: ignore[arg-type]
    with pytest.raises(ArchiveError, match=message) as err:
        write_run(tmp_path / "searches", Manifest(run_id="2025-09-30", date_run="2025-09-30", files=[entry]), {entry.name: b"TY  - JOUR\nER  - \n"})
    assert "2025-09-30/manifest.json" in str(err.value) and "fix: correct the value given to add-run or search" in str(err.value)
    assert list((tmp_path / "searches").iterdir()) == []  # nothing written, no temporary folder left


def test_a_manifest_that_is_not_utf8_is_one_archive_error(tmp_path: Path) -> None:
    run = tmp_path / "2025-09-30"
    run.mkdir()
    (run / MANIFEST).write_bytes('{"run_id": "2025-09-30", "description": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(ArchiveError, match=r"manifest\.json:\d+: byte 0x[0-9a-f]{2} \(byte \d+ of the line\) is not UTF-8 text; fix: restore the file from git") as err:
        load_manifest(run)
    assert len(str(err.value).splitlines()) == 1


def _ris_run(run_id: str = "2025-10-31") -> tuple[Manifest, dict[str, bytes | Path]]:
    entry = RunFile(
        name="db.ris", database="psycinfo", platform="Ovid", format="ris", query="ketamine", date_limits={"to": "2025/10/31"},
        count_reported=1, count_in_file=1,
    )
    return Manifest(run_id=run_id, date_run=run_id[:10], files=[entry]), {"db.ris": b"TY  - JOUR\nTI  - A title\nER  - \n"}


def test_a_run_folder_without_manifest_is_an_error_not_silently_skipped(tmp_path: Path) -> None:
    # A half-written or hand-copied run folder: its records would silently be left out of the review.
    write_run(tmp_path, *_ris_run("2025-09-30"))
    (tmp_path / ".2025-10-31.abc123.partial").mkdir()  # left by an interrupted search: skipped
    (tmp_path / ".2025-10-31.abc123.partial" / "db.ris").write_bytes(b"TY  - JOUR\n")
    assert [p.name for p in list_runs(tmp_path)] == ["2025-09-30"]
    (tmp_path / "2025-10-31").mkdir()
    (tmp_path / "2025-10-31" / "embase.ris").write_bytes(b"TY  - JOUR\nER  - \n")
    with pytest.raises(ArchiveError) as err:
        list_runs(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / '2025-10-31'}: run folder 2025-10-31 has no manifest.json (holds embase.ris)")
    assert "fix: restore the folder from git if it is an archived run, else delete it" in message
    assert len(message.splitlines()) == 1


def test_write_run_flushes_files_and_folder_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        real_fsync(fd)

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("rename", Path(dst).name))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    write_run(tmp_path / "searches", *_ris_run())
    names = [name for _, name in events]
    renamed = events.index(("rename", "2025-10-31"))
    assert {"db.ris", MANIFEST} <= set(names[:renamed])  # the files are on disk before the run appears
    assert any(name.startswith(".2025-10-31.") and name.endswith(".partial") for name in names[:renamed])  # and the folder's entries
    assert events[renamed + 1 :] == [("fsync", "searches")]  # then the rename itself


def test_cleaning_waits_for_a_run_being_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A second search or add-run started while a run is being archived must not delete its
    # temporary folder (which would leave a renamed run with files missing, or a crash).
    import shutil
    import threading

    from livingreview import runs

    root = tmp_path / "searches"
    root.mkdir()
    src = tmp_path / "db.ris"
    src.write_bytes(b"TY  - JOUR\nTI  - A title\nER  - \n")
    manifest, _ = _ris_run()
    copying, release = threading.Event(), threading.Event()
    real_copy = shutil.copyfile

    def slow_copy(a: Path, b: Path) -> None:
        real_copy(a, b)
        copying.set()
        assert release.wait(10)

    monkeypatch.setattr(runs.shutil, "copyfile", slow_copy)
    result: dict[str, object] = {}
    writer = threading.Thread(target=lambda: result.setdefault("run", write_run(root, manifest, {"db.ris": src})))
    writer.start()
    assert copying.wait(10)
    cleaner = threading.Thread(target=lambda: result.setdefault("removed", runs.clean_partial_runs(root)))
    cleaner.start()
    cleaner.join(0.5)
    assert cleaner.is_alive()  # waits for the writer's lock
    release.set()
    writer.join(10)
    cleaner.join(10)
    assert result["removed"] == []
    assert result["run"] == root / "2025-10-31"
    assert verify_run(root / "2025-10-31").run_id == "2025-10-31"
    assert sorted(p.name for p in root.iterdir()) == ["2025-10-31"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["files"][0].pop("sha256"), r"manifest lacks 'files\[0\]\.sha256' \(pubmed\.xml\)"),
        (lambda m: m.update(date_run="yesterday"), r"field 'date_run' must be a calendar date YYYY-MM-DD, not \"yesterday\""),
        (lambda m: m.update(date_run="2025-02-30"), r"field 'date_run' must be a calendar date YYYY-MM-DD, not \"2025-02-30\""),
    ],
    ids=["no-sha256", "date-words", "no-such-day"],
)
def test_an_archived_manifest_needs_every_sha256_and_a_calendar_date(tmp_path: Path, edit, message: str) -> None:
    run_dir = tmp_path / "2025-10-31"
    run_dir.mkdir()
    (run_dir / "pubmed.xml").write_bytes(b"<PubmedArticleSet/>")
    manifest = {
        "run_id": "2025-10-31", "date_run": "2025-10-31",
        "files": [{"name": "pubmed.xml", "database": "pubmed", "platform": "PubMed", "format": "pubmed_xml", "query": "q",
                   "date_limits": {}, "count_reported": 0, "count_in_file": 0, "sha256": sha256_file(run_dir / "pubmed.xml")}],
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert load_manifest(run_dir).date_run == "2025-10-31"
    edit(manifest)
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArchiveError, match=message):
        load_manifest(run_dir)


@pytest.mark.parametrize("errno_name", ["EBADF", "ENOLCK"])
def test_a_runs_folder_that_cannot_be_locked_still_archives_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, errno_name: str
) -> None:
    """NFS/CIFS (a cluster's network home) emulate flock with byte-range locks: an exclusive lock on a
    folder (never open for writing) fails with EBADF, or ENOLCK without a lock service. The search
    or add-run then archives unlocked with a warning instead of stopping with a traceback."""
    import errno
    import fcntl

    from livingreview.runs import clean_partial_runs

    def no_lock(fd: int, op: int) -> None:
        raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)))

    monkeypatch.setattr(fcntl, "flock", no_lock)
    root = tmp_path / "searches"
    root.mkdir()
    (root / ".2025-10-30.x.partial").mkdir()
    assert clean_partial_runs(root) == [root / ".2025-10-30.x.partial"]
    final = write_run(root, *_ris_run())
    verify_run(final)
    assert [p.name for p in list_runs(root)] == ["2025-10-31"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    expected = (f"{root}: cannot lock the runs folder ({os.strerror(getattr(errno, errno_name))}); archiving without the lock "
                "(do not start two searches or add-runs at once)")
    assert warnings == [expected] * 2


@pytest.mark.parametrize(("run_id", "ok"), [
    ("2025-09-30", True), ("2025-09-30-2", True), ("2025-09-30-10", True),
    ("2025-09-30-1", False), ("2025-09-30-0", False), ("2025-09-30-02", False), ("2025-02-30", False), ("2025/09/30", False), ("latest", False),
    ("2025-09-30\n", False), ("2025-09-30-2\n", False), ("2025-09-30-\u0662", False),  # a folder name ending in a newline; an Arabic-Indic 2
])
def test_run_ids_are_dates_with_a_suffix_of_2_or_more(run_id: str, ok: bool) -> None:
    from livingreview.runs import is_run_id

    assert is_run_id(run_id) is ok


def test_version_closes_on_the_update_search_day_or_the_next_for_a_second_search_that_day() -> None:
    from livingreview.runs import version_closes, version_of_decision

    assert version_closes(["2025-09-30"], "2025-10-31") == "2025-10-31"
    assert version_closes(["2025-09-30", "2025-10-31"], "2025-10-31-2") == "2025-11-01"
    assert version_closes(["2025-09-30"], "not-a-run") == ""
    runs = ["2025-11-30", "2025-09-30", "2025-10-31", "2025-10-31-2"]
    assert [version_of_decision(runs, d) for d in ("2025-01-01", "2025-10-30", "2025-10-31", "2025-11-01", "2025-11-29", "2025-11-30", "2026-02-01")] == [
        "2025-09-30", "2025-09-30", "2025-10-31", "2025-10-31-2", "2025-10-31-2", "2025-11-30", "2025-11-30"]
    assert version_of_decision([], "2025-10-30") == ""


@pytest.mark.parametrize(("archived", "new", "ok"), [
    (("2025-10-31",), "2025-10-15", False),
    (("2025-10-31",), "2025-10-31-2", True),
    (("2025-10-31", "2025-10-31-2"), "2025-10-31-3", True),
    (("2025-10-01", "2025-10-01-10"), "2025-10-01-9", False),  # -9 sorts before -10
    (("2025-09-30", "2025-10-31"), "2025-10-01", False),
    (("2025-09-30",), "2025-10-31", True),
])
def test_a_run_that_would_sort_before_an_archived_run_is_refused(tmp_path: Path, archived: tuple[str, ...], new: str, ok: bool) -> None:
    # Runs are ordered by id and deduplication is append-only in that order: a back-dated run would take
    # over the clusters of the runs after it (their cluster ids, screening rows and update files change).
    for run_id in archived:
        write_run(tmp_path, *_ris_run(run_id))
    before = sorted(p.name for p in tmp_path.iterdir())
    if ok:
        assert write_run(tmp_path, *_ris_run(new)) == tmp_path / new
        return
    with pytest.raises(ArchiveError, match=rf"run {new} would come before run {archived[-1]}, archived already"):
        write_run(tmp_path, *_ris_run(new))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run, no .partial folder


def test_already_archived_is_written_sorted_only_when_not_empty_and_old_manifests_load(tmp_path: Path) -> None:
    plain = RunFile(name="db.ris", database="psycinfo", platform="Ovid", format="ris", query="q", date_limits={}, count_reported=3, count_in_file=3)
    assert "already_archived" not in plain.to_json() and plain.records_kept == 3  # manifests without overlap are written as before
    listed = RunFile(name="db.ris", database="psycinfo", platform="Ovid", format="ris", query="q", date_limits={}, count_reported=3, count_in_file=3,
                     already_archived={"psycinfo:9": "2025-09-30", "psycinfo:10": "2025-08-31"})
    assert list(listed.to_json()["already_archived"].items()) == [("psycinfo:10", "2025-08-31"), ("psycinfo:9", "2025-09-30")]
    assert listed.records_kept == 1
    assert already_archived_note(listed.already_archived, 3) == (
        "2 of 3 records in this file are already archived and left out: 2025-08-31 (1), 2025-09-30 (1)"
    )
    # archived and loaded again: the same mapping; an old manifest (no field) loads with none listed
    manifest = Manifest(run_id="2025-10-31", date_run="2025-10-31", files=[listed])
    run = write_run(tmp_path, manifest, {"db.ris": b"TY  - JOUR\nER  - \n"})
    assert load_manifest(run).files[0].already_archived == {"psycinfo:10": "2025-08-31", "psycinfo:9": "2025-09-30"}
    old = json.loads((run / MANIFEST).read_text(encoding="utf-8"))
    del old["files"][0]["already_archived"]
    (run / MANIFEST).write_text(json.dumps(old), encoding="utf-8")
    assert load_manifest(run).files[0].already_archived == {} and load_manifest(run).files[0].records_kept == 3


def test_an_archived_file_name_with_braces_is_one_error_before_any_job(tmp_path: Path) -> None:
    """Snakemake reads braces in a path as a wildcard: such a run stopped the workflow with a
    WildcardError and no word on the file; now loading the manifest names it and says what to do."""
    body = b"TY  - JOUR\nTI  - A title\nER  - \n"
    run = tmp_path / "2025-09-30"
    run.mkdir()
    (run / "db {1}.ris").write_bytes(body)
    entry = _entry(name="db {1}.ris", count_reported=1, count_in_file=1)
    entry["sha256"] = sha256_file(run / "db {1}.ris")
    (run / MANIFEST).write_text(json.dumps({"run_id": "2025-09-30", "date_run": "2025-09-30", "files": [entry]}), encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"manifest\.json: file name 'db \{1\}\.ris' \(files\[0\]\.name\) holds '\{' or '\}', which Snakemake reads as a wildcard.*; fix: rename the export"):
        load_manifest(run)
