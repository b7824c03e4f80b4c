"""Bad input in the human-edited config and tables: one line naming file:line and the fix, exit 1,
never a traceback, never a value silently turned into "not reported"."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_project_inputs, run_snakemake
from livingreview.cli import main

STUDIES = "resources/extraction/studies.tsv"
OUTCOMES = "resources/extraction/outcomes.tsv"
ROB = "resources/extraction/risk_of_bias.tsv"


def _write_rob(work: Path) -> None:
    """A valid risk_of_bias.tsv (config extraction.risk_of_bias) for the studies of the copy."""
    ids = [line.split("\t")[0] for line in (work / STUDIES).read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    rows = "".join(f"{sid}\tLow\tLow\tSome concerns\tLow\tHigh\tHigh\n" for sid in ids)
    (work / ROB).write_text("study_id\tD1\tD2\tD3\tD4\tD5\toverall\n" + rows, encoding="utf-8")


def _write_dedup_decision(work: Path) -> None:
    (work / "resources/dedup/decisions.tsv").write_text(
        "record_a\trecord_b\tdecision\treviewer\tdate\tnote\npubmed:35046508\tembase:2025-09-30#14\tkeep_apart\tAB\t2025-10-01\tx\n", encoding="utf-8"
    )


def _latin1_byte(work: Path, rel: str, lineno: int | None, after: bytes) -> tuple[int, int]:
    """Put the latin-1 byte 0xe9 ('é' as a spreadsheet saves it) right after ``after`` on line
    ``lineno`` (None: the first line holding ``after``); returns that line and the byte's 1-based
    position on it."""
    path = work / rel
    lines = path.read_bytes().split(b"\n")
    if lineno is None:
        lineno = next(n for n, line in enumerate(lines, start=1) if after in line)
    at = lines[lineno - 1].index(after) + len(after)
    lines[lineno - 1] = lines[lineno - 1][:at] + b"\xe9" + lines[lineno - 1][at:]
    path.write_bytes(b"\n".join(lines))
    return lineno, at + 1


# (file, line, text the byte goes after, set-up for an optional table)
NOT_UTF8 = {
    "config": ("config/config.yaml", None, b"id: ketamine-ptsd", None),
    "screening_rules": ("config/screening.yaml", None, b"version: 1", None),
    "screening_decisions": ("resources/screening/decisions.tsv", 2, b"\t", None),
    "studies": (STUDIES, 2, b"\t", None),
    "outcomes": (OUTCOMES, 3, b"\t", None),
    "dedup_decisions": ("resources/dedup/decisions.tsv", 2, b"\tAB", _write_dedup_decision),
    "risk_of_bias": (ROB, 4, b"\tLow", _write_rob),
}


@pytest.mark.parametrize("which", sorted(NOT_UTF8))
def test_a_byte_that_is_not_utf8_is_one_line_naming_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    rel, lineno, after, setup = NOT_UTF8[which]
    copy_project_inputs(tmp_path)
    if setup:
        setup(tmp_path)
    lineno, column = _latin1_byte(tmp_path, rel, lineno, after)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    expected = (
        f"livingreview: error: {rel}:{lineno}: byte 0xe9 (byte {column} of the line) is not UTF-8 text; "
        "fix: save the file as UTF-8 (in a spreadsheet: 'Unicode (UTF-8)' or 'CSV UTF-8'), or retype the character"
    )
    assert err == [expected]


def test_a_table_that_is_not_utf8_stops_snakemake_at_start(tmp_path: Path) -> None:
    copy_project_inputs(tmp_path)
    _latin1_byte(tmp_path, OUTCOMES, 3, b"\t")
    proc = run_snakemake(tmp_path, "-n", check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "UnicodeDecodeError" not in proc.stderr, proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")]
    assert len(err) == 1 and err[0].startswith(f"livingreview: error: {OUTCOMES}:3: byte 0xe9"), proc.stderr
    assert not (tmp_path / "results").exists()
