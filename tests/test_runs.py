"""runs.py: an archived run folder is written whole, with the folder mode mkdir would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from livingreview.errors import ArchiveError
from livingreview.runs import MANIFEST, Manifest, RunFile, load_manifest, verify_run, write_run
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
