"""Bad input in the human-edited config and tables: one line naming file:line and the fix, exit 1,
never a traceback, never a value silently turned into "not reported"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, copy_project_inputs, run_snakemake
from livingreview.cli import main
from livingreview.errors import InputFormatError
from livingreview.extraction import load_outcomes, load_studies

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


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"- a\n", "livingreview: error: config/config.yaml:1: the config is not a mapping of keys to values"),
        (b"review:\n  title: [\n", "livingreview: error: config/config.yaml:3: YAML syntax error"),
        (b"review:\n  title: caf\xe9\n", "livingreview: error: config/config.yaml:2: byte 0xe9"),
    ],
    ids=["list", "syntax", "latin-1"],
)
def test_a_config_snakemake_cannot_load_is_one_line_at_start(tmp_path: Path, content: bytes, expected: str) -> None:
    copy_project_inputs(tmp_path)
    (tmp_path / "config/config.yaml").write_bytes(content)
    proc = run_snakemake(tmp_path, "-n", check=False)
    assert proc.returncode == 1
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")]
    assert len(err) == 1 and err[0].startswith(expected), proc.stderr
    assert not (tmp_path / "results").exists()


def _set_cell(path: Path, lineno: int, column: str, value: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    cells = lines[lineno - 1].split("\t")
    cells[header.index(column)] = value
    lines[lineno - 1] = "\t".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8")


def _first_line_with(path: Path, column: str) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    index = lines[0].split("\t").index(column)
    return next(n for n, line in enumerate(lines[1:], start=2) if line and line.split("\t")[index])


@pytest.mark.parametrize("column", ["sd_intervention", "estimate", "timepoint_days"])
def test_an_outcome_number_that_reads_as_infinity_is_refused(tmp_path: Path, column: str) -> None:
    """'1e999' matches the schema's number pattern but float() makes it inf, which was silently read as empty."""
    copy_project_inputs(tmp_path)
    path = tmp_path / OUTCOMES
    lineno = _first_line_with(path, column)
    _set_cell(path, lineno, column, "1e999")
    with pytest.raises(InputFormatError) as info:
        load_outcomes(path, load_studies(tmp_path / STUDIES))
    assert str(info.value) == (
        f"{path}:{lineno}: column '{column}': '1e999' is too large to be a number (it reads as infinity); "
        "fix: write the value as reported, as an ordinary decimal number"
    )


def test_a_dose_that_reads_as_infinity_is_refused(tmp_path: Path) -> None:
    copy_project_inputs(tmp_path)
    path = tmp_path / STUDIES
    _set_cell(path, 2, "dose", "0.5; " + "9" * 400)
    with pytest.raises(InputFormatError, match=re.escape(f"{path}:2: column 'dose': '999")):
        load_studies(path)


@pytest.mark.parametrize("rel", [STUDIES, OUTCOMES, ROB])
def test_a_header_column_without_a_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], rel: str
) -> None:
    """A tab at the end of studies.tsv's header used to add an unnamed column to
    results/studies/included_studies.tsv (extra columns are carried there): different results
    from the same table without the tab."""
    copy_project_inputs(tmp_path)
    _write_rob(tmp_path)
    path = tmp_path / rel
    lines = path.read_text(encoding="utf-8").split("\n")
    width = len(lines[0].split("\t")) + 1
    lines[0] += "\t"
    path.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    expected = (
        f"livingreview: error: {rel}:1: column {width} of {width} in the header has no name (a tab at the end of the header line); "
        "fix: delete the trailing tab(s) of the header line (and of the rows), or give the column a name"
    )
    assert err == [expected]


def test_a_path_the_system_refuses_is_one_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Before, `dedup -o FOLDER` and `add-run --root FILE` ended in an IsADirectoryError /
    # NotADirectoryError traceback.
    export = tmp_path / "x.ris"
    export.write_text("TY  - JOUR\nTI  - Synthetic title\nER  - \n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    assert main(["dedup", str(export), "-o", str(tmp_path / "out")]) == 1
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert re.fullmatch(rf"livingreview: error: \S+ -> {re.escape(str(tmp_path / 'out'))}: Is a directory; fix: check that the path exists.*", line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "x.ris"]  # no temporary file left
    assert main(["add-run", "--database", "embase", "--file", str(export), "--date", "2025-10-01", "--root", str(export)]) == 1
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert line.startswith(f"livingreview: error: {export}") and "Not a directory" in line


def test_an_os_error_without_a_path_does_not_blame_a_path(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import livingreview.commands.pool as pool_command

    def reset(args: object) -> int:
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(pool_command, "run", reset)
    assert main(["pool", "effects.tsv"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == ("livingreview: error: Connection reset by peer; fix: a system error without a path (network, disk): "
                    "check the connection and free disk space, then run the command again")


def test_a_reader_that_goes_away_is_not_a_traceback(tmp_path: Path) -> None:
    # `livingreview pool effects.tsv | head -0`: the pipe closes before the output is written.
    effects = tmp_path / "effects.tsv"
    effects.write_text("study\tyi\tvi\n" + "".join(f"S{i}\t0.{i}\t0.1\n" for i in range(1, 4)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "livingreview.cli", "pool", str(effects)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode("utf-8")
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "Broken pipe" not in err and "BrokenPipeError" not in err


def test_a_python_whose_path_has_a_space_is_one_line_at_start(tmp_path: Path) -> None:
    """Snakemake starts `script:` jobs with the Python path unquoted (snakemake issue 2645): from a
    venv in "/home/me/My Reviews/livingreview/.venv" every job died with "bash: /home/me/My: No such
    file or directory". Now one line before any job says so and what to do."""
    work = copy_project_inputs(tmp_path / "review")
    venv = tmp_path / "my envs" / "lr"  # the same venv seen through a folder with a space
    venv.parent.mkdir()
    venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    python = venv / "bin" / Path(sys.executable).name
    cmd = [str(python), "-m", "snakemake", "results/records/records.tsv", "-s", str(ROOT / "Snakefile"), "-d", str(work), "--cores", "1", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    assert proc.returncode == 1
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")]
    assert len(err) == 1 and err[0].startswith(f"livingreview: error: {python}: the path of the Python"), proc.stderr
    assert "snakemake issue 2645" in err[0] and "fix: " in err[0]
    assert not (work / "results").exists()


def test_a_python_path_with_a_space_is_fine_under_use_conda(capsys: pytest.CaptureFixture[str]) -> None:
    """Under --use-conda the jobs run the environment's `python`, not this path: no error."""
    from livingreview.workflow_support import check_job_python

    check_job_python("/home/me/My Reviews/.venv/bin/python", conda=True)
    with pytest.raises(SystemExit) as stop:
        check_job_python("/home/me/My Reviews/.venv/bin/python")
    assert stop.value.code == 1
    assert capsys.readouterr().err.startswith("livingreview: error: /home/me/My Reviews/.venv/bin/python: the path of the Python")


def _stray_cr(work: Path, rel: str, lineno: int, column: str, *, crlf: bool = False) -> int:
    """Put a lone carriage return after the first word of ``column``'s cell on line ``lineno`` of
    ``rel`` (``crlf``: first save the whole file with CRLF line endings); returns the column's cell number."""
    path = work / rel
    lines = path.read_text(encoding="utf-8").split("\n")
    cell = lines[0].split("\t").index(column)
    cells = lines[lineno - 1].split("\t")
    assert " " in cells[cell], (rel, lineno, column, cells[cell])
    cells[cell] = cells[cell].replace(" ", "\r ", 1)
    lines[lineno - 1] = "\t".join(cells)
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode("utf-8"))
    return cell + 1


# (file, line, column the stray carriage return goes into)
STRAY_CR = {
    "screening_decisions": ("resources/screening/decisions.tsv", 3, "note"),
    "studies": (STUDIES, 4, "design"),
    "outcomes": (OUTCOMES, 3, "timepoint"),
}
STRAY_CR_FIX = ("fix: remove the stray carriage return from that line (an editor may show it as ^M; pasted text often brings one), "
                "or save the file with one kind of line ending")


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("which", ["screening_decisions", "studies", "outcomes"])
def test_a_stray_carriage_return_is_one_line_naming_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], which: str, crlf: bool
) -> None:
    """A lone "\\r" inside a cell ended the line there: the rest of the line was read as a row of its
    own and the error named a short row ('column ... value '' is not allowed', or the wrong number of
    cells) on a line that looks complete in an editor. Now: the line, the column and the fix."""
    rel, lineno, column = STRAY_CR[which]
    copy_project_inputs(tmp_path)
    cell = _stray_cr(tmp_path, rel, lineno, column, crlf=crlf)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    captured = capsys.readouterr()
    err = [ln for ln in captured.err.splitlines() if not ln.startswith("INFO ")]
    assert err == [
        f"livingreview: error: {rel}:{lineno}: a carriage return (\\r) not followed by a line feed, in column '{column}' (cell {cell}): "
        f"it ends the line there, so the rest of the line would be read as another row; {STRAY_CR_FIX}"
    ]
    assert "valid" not in captured.out


def test_a_stray_carriage_return_in_a_header_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """In the header line (here of an extraction table, whose header is checked before its rows) the
    lone "\\r" used to cut the header short: 'missing column(s) ...' for columns that are there."""
    copy_project_inputs(tmp_path)
    path = tmp_path / OUTCOMES
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\tscale\t", "\tscale\r\t", 1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("INFO ")]
    assert err == [
        f"livingreview: error: {OUTCOMES}:1: a carriage return (\\r) not followed by a line feed, in the header's column 'scale': "
        f"it ends the line there, so the rest of the line would be read as another row; {STRAY_CR_FIX}"
    ]


def test_crlf_and_lone_cr_tables_read_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Tables saved with CRLF line endings (Windows), or with a lone carriage return ending every line (old
    Mac spreadsheets), validate to the same counts as the tables as shipped."""
    copy_project_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 0
    shipped = capsys.readouterr().out.replace(f"{tmp_path}", "")
    tables = ("resources/screening/decisions.tsv", STUDIES, OUTCOMES)
    for ending in ("\r\n", "\r"):
        for rel in tables:
            text = (tmp_path / rel).read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n")
            (tmp_path / rel).write_bytes(text.replace("\n", ending).encode("utf-8"))
        assert main(["validate"]) == 0, ending
        assert capsys.readouterr().out.replace(f"{tmp_path}", "") == shipped, ending
        assert "studies" in shipped


def test_a_stray_carriage_return_stops_snakemake_at_start(tmp_path: Path) -> None:
    copy_project_inputs(tmp_path)
    rel, lineno, column = STRAY_CR["screening_decisions"]
    _stray_cr(tmp_path, rel, lineno, column)
    proc = run_snakemake(tmp_path, "-n", check=False)
    assert proc.returncode == 1
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("INFO ")]
    assert len(err) == 1 and err[0].startswith(f"livingreview: error: {rel}:{lineno}: a carriage return (\\r) not followed by a line feed"), proc.stderr
    assert not (tmp_path / "results").exists()
