"""runs.py: an archived run folder is written whole, with the folder mode mkdir would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from livingreview.errors import ArchiveError
from livingreview.runs import MANIFEST, Manifest, RunFile, list_runs, load_manifest, run_sort_key, verify_run, write_run
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


def test_runs_of_one_day_are_listed_in_the_order_they_were_made(tmp_path: Path) -> None:
    names = ["2025-09-30", "2025-09-30-2", "2025-09-30-10", "2025-10-01", "2025-09-30-3"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST).write_text("{}", encoding="utf-8")
    assert [p.name for p in list_runs(tmp_path)] == ["2025-09-30", "2025-09-30-2", "2025-09-30-3", "2025-09-30-10", "2025-10-01"]
    assert sorted(names, key=run_sort_key) == [p.name for p in list_runs(tmp_path)]
