"""A line longer than textio.MAX_LINE_CHARS in a line-based export (RIS, MEDLINE, CSV) is refused in one
line naming file:line, its length and the fix, read in bounded pieces (never the whole line in memory):
a gzip file of a few hundred KB holding one title line of 300 MB took 49 s and 1.1 GB in
`livingreview dedup`, a few MB of gzip would exhaust memory. The files are SYNTHETIC (generated here)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from conftest import copy_project_inputs, run_snakemake

from livingreview import cli
from livingreview.commands.add_run import add_run
from livingreview.errors import InputFormatError
from livingreview.importer import import_file, run_import
from livingreview.parsers import read_records
from livingreview.parsers.textio import MAX_LINE_CHARS, bounded_lines
from livingreview.runs import Manifest, RunFile, list_runs, write_run

LIMIT = MAX_LINE_CHARS


def _lines(text: str, limit: int) -> list[str]:
    return list(bounded_lines(io.StringIO(text, newline=None), "x.ris", limit=limit))


def test_lines_up_to_the_limit_read_as_iterating_the_stream() -> None:
    text = "abcde\n\nabcd\r\nabc\rab\nabcde"
    assert _lines(text, 5) == list(io.StringIO(text, newline=None)) == ["abcde\n", "\n", "abcd\n", "abc\n", "ab\n", "abcde"]
    assert _lines("", 5) == []


@pytest.mark.parametrize(
    ("text", "line", "length"),
    [
        ("abc\nabcdef\nab\n", 2, 6),  # one character over, a newline follows
        ("abc\nabcdef", 2, 6),  # the last line, no newline
        ("abcdefghijklmnopqrstuvwxyz0123456789\n", 1, 36),  # the rest measured over several pieces
        ("ab\r\nabcdefghijklmnopqrstuvwxyz0123456789\r\nab\r\n", 2, 36),  # CRLF: the newline is not counted
    ],
)
def test_a_line_over_the_limit_is_refused_with_its_line_and_length(text: str, line: int, length: int) -> None:
    with pytest.raises(InputFormatError) as err:
        _lines(text, 5)
    assert str(err.value) == (
        f"x.ris:{line}: line {line} is {length:,} characters long, more than the 5 a line of a text export may hold (no field of a real "
        "record is that long: the file is damaged, not a text export, or built to exhaust memory); fix: export the records again "
        "from the database or reference manager and archive that file; do not edit an export by hand"
    )


def _gz(path: Path, head: bytes, n: int, tail: bytes) -> Path:
    """A gzip file holding ``head``, ``n`` letters A (one line) and ``tail``: a few KB for a line of 10 MB."""
    with gzip.open(path, "wb") as fh:
        fh.write(head)
        fh.write(b"A" * n)
        fh.write(tail)
    return path


def _ris(path: Path, n: int) -> Path:
    """SYNTHETIC RIS: a good record, then one whose title line holds ``n`` characters after 'TI  - ' (line 7)."""
    good = b"TY  - JOUR\nAN  - 1\nTI  - Synthetic title one\nER  - \n\nTY  - JOUR\n"
    return _gz(path, good + b"TI  - ", n, b"\nAN  - 2\nER  - \n")


def _message(name: str, line: int, length: int) -> str:
    return f"{name}:{line}: line {line} is {length:,} characters long, more than the {LIMIT:,} a line of a text export may hold"


def test_ris_line_at_the_limit_reads_and_one_over_is_refused(tmp_path: Path) -> None:
    ok = _ris(tmp_path / "ok.ris.gz", LIMIT - len("TI  - "))
    recs = list(read_records(ok, fmt="ris", database="embase", run_id="r"))
    assert [len(r.title) for r in recs] == [len("Synthetic title one"), LIMIT - len("TI  - ")]
    assert ok.stat().st_size < 100_000
    bomb = _ris(tmp_path / "bomb.ris.gz", LIMIT - len("TI  - ") + 1)
    with pytest.raises(InputFormatError) as err:
        list(read_records(bomb, fmt="ris", database="embase", run_id="r", source_file="bomb.ris.gz"))
    assert str(err.value).startswith(_message("bomb.ris.gz", 7, LIMIT + 1))


def test_livingreview_dedup_refuses_the_file_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = _ris(tmp_path / "bomb.ris.gz", 2 * LIMIT)
    out = tmp_path / "clusters.tsv"
    assert cli.main(["dedup", str(bomb), "-o", str(out)]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("livingreview: error:")]
    assert len(err) == 1 and _message(str(bomb), 7, 2 * LIMIT + len("TI  - ")) in err[0] and "; fix: export the records again" in err[0]
    assert not out.exists()


def test_add_run_refuses_the_file_and_archives_nothing(tmp_path: Path) -> None:
    bomb = _ris(tmp_path / "bomb.ris.gz", LIMIT)
    with pytest.raises(InputFormatError, match=_message(str(bomb), 7, LIMIT + len("TI  - "))):
        add_run(root=tmp_path / "runs", database="embase", file=bomb, date="2025-09-30")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _archive(root: Path, run_id: str, name: str, data: bytes, fmt: str, count: int) -> Path:
    """An archived run holding the file as it stands (a run archived before the limit, or edited)."""
    entry = RunFile(name=name, database="embase", platform="Ovid", format=fmt, query="q", date_limits={}, count_reported=count, count_in_file=count)
    return write_run(root, Manifest(run_id=run_id, date_run=run_id, files=[entry]), {name: data})


def test_livingreview_import_and_the_per_file_import_refuse_an_archived_file_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("resources/searches")
    _archive(root, "2025-09-30", "bomb.ris.gz", _ris(tmp_path / "bomb.ris.gz", LIMIT).read_bytes(), "ris", 2)
    where = _message("resources/searches/2025-09-30/bomb.ris.gz", 7, LIMIT + len("TI  - "))
    assert cli.main(["import", "--runs", str(root), "-o", "out/records.tsv", "--ledger", "out/ident.tsv"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("livingreview: error:")]
    assert len(err) == 1 and where in err[0]
    with pytest.raises(InputFormatError, match=where):
        run_import(runs_root=root, records_out="records.tsv", ledger_out="ident.tsv")
    (run_dir,) = list_runs(root)
    with pytest.raises(InputFormatError, match=where):
        import_file(run_dir=run_dir, file_name="bomb.ris.gz", records_out="part.tsv", ledger_out="ledger.tsv")
    assert not any(Path(p).exists() for p in ("out", "records.tsv", "ident.tsv", "part.tsv", "ledger.tsv"))


def test_the_snakemake_import_job_stops_with_the_one_line_and_no_part_table(tmp_path: Path) -> None:
    copy_project_inputs(tmp_path)
    root = tmp_path / "resources/searches"
    run_id = "2099-01-31"  # after every run of the default review
    _archive(root, run_id, "bomb.ris.gz", _ris(tmp_path / "bomb.ris.gz", LIMIT).read_bytes(), "ris", 2)
    part = f"results/records/parts/{run_id}/bomb.ris.gz.tsv"
    proc = run_snakemake(tmp_path, part, check=False)
    assert proc.returncode != 0
    log = (tmp_path / f"logs/import/{run_id}/bomb.ris.gz.log").read_text(encoding="utf-8")
    assert _message(f"resources/searches/{run_id}/bomb.ris.gz", 7, LIMIT + len("TI  - ")) in log
    assert not (tmp_path / part).exists()


def test_medline_line_at_the_limit_reads_and_one_over_is_refused(tmp_path: Path) -> None:
    def nbib(path: Path, n: int) -> Path:
        """SYNTHETIC MEDLINE: a good record, then one whose abstract line (line 6) holds ``n`` characters after 'AB  - '."""
        return _gz(path, b"PMID- 1\nTI  - Synthetic title one\n\nPMID- 2\nTI  - Synthetic title two\nAB  - ", n, b"\n")

    recs = list(read_records(nbib(tmp_path / "ok.nbib.gz", LIMIT - len("AB  - ")), fmt="medline", database="pubmed", run_id="r"))
    assert [r.pmid for r in recs] == ["1", "2"] and len(recs[1].abstract) == LIMIT - len("AB  - ")
    with pytest.raises(InputFormatError) as err:
        list(read_records(nbib(tmp_path / "bomb.nbib.gz", 3 * LIMIT), fmt="medline", database="pubmed", run_id="r", source_file="bomb.nbib.gz"))
    assert str(err.value).startswith(_message("bomb.nbib.gz", 6, 3 * LIMIT + len("AB  - ")))


@pytest.mark.parametrize(("fmt", "header"), [("csv", b"title,doi\n"), ("ctgov_csv", b"NCT Number,Study Title\n")])
def test_csv_line_at_the_limit_reads_and_one_over_is_refused(tmp_path: Path, fmt: str, header: bytes) -> None:
    def csv_gz(path: Path, n: int) -> Path:
        """SYNTHETIC CSV: a header and a row whose line (line 2) holds ``n`` characters, then one more row."""
        first = b"A," if fmt == "csv" else b"NCT00000001,"
        return _gz(path, header + first, n - len(first), b"\n" + (b"Synthetic title two,\n" if fmt == "csv" else b"NCT00000002,Synthetic title two\n"))

    recs = list(read_records(csv_gz(tmp_path / "ok.csv.gz", LIMIT), fmt=fmt, database="other", run_id="r"))
    assert len(recs) == 2 and recs[1].title == "Synthetic title two"
    for n, name in ((LIMIT + 1, "over.csv.gz"), (2 * LIMIT, "bomb.csv.gz")):
        with pytest.raises(InputFormatError) as err:
            list(read_records(csv_gz(tmp_path / name, n), fmt=fmt, database="other", run_id="r", source_file=name))
        assert str(err.value).startswith(_message(name, 2, n))


def test_a_csv_header_line_over_the_limit_is_refused(tmp_path: Path) -> None:
    bomb = _gz(tmp_path / "bomb.csv", b"title,", LIMIT, b"\nSynthetic title,\n")
    with pytest.raises(InputFormatError) as err:
        list(read_records(bomb, fmt="csv", database="other", run_id="r", source_file="bomb.csv"))
    assert str(err.value).startswith(_message("bomb.csv", 1, LIMIT + len("title,")))


def test_continued_joins_a_field_once_and_refuses_one_over_the_limit() -> None:
    from livingreview.parsers.textio import Continued

    values = ["first", ""]
    continued = Continued("x.ris", limit=12)
    continued.add(values, "ab", line=3, tag="TI")
    continued.add(values, "cd", line=4, tag="TI")
    assert values == ["first", ""]  # joined only when the field ends
    continued.close(lambda pieces: " ".join(p for p in pieces if p))
    assert values == ["first", "ab cd"]
    continued.close(" ".join)  # nothing open: no change
    assert values == ["first", "ab cd"]
    with pytest.raises(InputFormatError) as err:
        for line in range(10, 20):
            continued.add(values, "xyz", line=line, tag="AB")  # 'ab cd' + ' xyz' x 2 = 13 > 12
    assert str(err.value).startswith("x.ris:11: field AB is longer than the 12 characters a field of a text export may hold")


def _continued_field(path: Path, head: bytes, indent: bytes, tail: bytes, n_chars: int) -> Path:
    """A gzip file whose title runs over 100-character continuation lines to ``n_chars`` characters."""
    piece = indent + b"B" * 99 + b"\n"
    with gzip.open(path, "wb") as fh:
        fh.write(head)
        for _ in range(n_chars // 100 + 1):
            fh.write(piece)
        fh.write(tail)
    return path


@pytest.mark.parametrize(
    ("name", "fmt", "head", "indent", "tail", "line"),
    [
        ("wrapped.ris.gz", "ris", b"TY  - JOUR\nTI  - A\n", b"", b"ER  - \n", 100_002),
        ("wrapped.nbib.gz", "medline", b"PMID- 900000001\nTI  - A\n", b"      ", b"\n", 100_002),
    ],
)
def test_a_field_continued_past_the_limit_is_refused_at_the_crossing_line(tmp_path: Path, name: str, fmt: str, head: bytes, indent: bytes, tail: bytes, line: int) -> None:
    """A title of 100-character continuation lines past 10,000,000 characters (a file of ~30 KB of gzip):
    each line was added by copying the whole field so far (40,000 lines took 5.6 s, 100,000 about half a
    minute, a 300 MB field hours); the lines are joined once now, and the field is refused at the line
    that crosses the limit, as one line over it is."""
    path = _continued_field(tmp_path / name, head, indent, tail, LIMIT)
    with pytest.raises(InputFormatError) as err:
        list(read_records(path, fmt=fmt, database="embase" if fmt == "ris" else "pubmed", run_id="2025-10-01", source_file=name))
    assert str(err.value).startswith(f"{name}:{line}: field TI is longer than the {LIMIT:,} characters a field of a text export may hold")


@pytest.mark.parametrize("fmt", ["csv", "ctgov_csv"])
def test_a_csv_quoted_cell_over_many_lines_past_the_limit_is_refused(tmp_path: Path, fmt: str) -> None:
    """A quoted CSV cell may hold line breaks, so one over 100-character lines was gathered whole by the
    csv module (up to tables.py's 1 GB field limit): 12,000,000 characters from 30 KB of gzip were read.
    The row's lines now count against the limit on one line, as a RIS or MEDLINE field continued over
    many lines does; a row of exactly the limit over many lines still reads."""
    header, first = (b"title,doi\n", b'"A') if fmt == "csv" else (b"Study Title,NCT Number\n", b'"A')
    tail = b'",10.1/x\n' if fmt == "csv" else b'",NCT00000001\n'

    def multi(path: Path, n_lines: int, last: int) -> Path:
        """Line 2 is '"A' and 99 B's; then ``n_lines`` lines of 99 B's and one of ``last`` B's closing the cell."""
        with gzip.open(path, "wb") as fh:
            fh.write(header + first + b"B" * 99 + b"\n")
            for _ in range(n_lines):
                fh.write(b"B" * 99 + b"\n")
            fh.write(b"B" * last + tail)
        return path

    # the row's characters, its newlines included: 101 + 1 + 100 * n_lines + last + len(tail without its newline)
    n_lines, room = 99_990, LIMIT - 101 - 1 - 100 * 99_990 - (len(tail) - 1)
    (rec,) = list(read_records(multi(tmp_path / "ok.csv.gz", n_lines, room), fmt=fmt, database="other", run_id="r"))
    assert len(rec.title) == LIMIT - 1 - (len(tail) - 1)  # the row less its opening quote and '",<id>' (newlines read as spaces)
    with pytest.raises(InputFormatError) as err:
        list(read_records(multi(tmp_path / "over.csv.gz", n_lines, room + 1), fmt=fmt, database="other", run_id="r", source_file="over.csv.gz"))
    assert str(err.value).startswith(
        f"over.csv.gz:{2 + n_lines + 1}: the row starting at line 2 is longer than the {LIMIT:,} characters a row of a text export may hold"
    )
    with pytest.raises(InputFormatError) as err:
        list(read_records(multi(tmp_path / "bomb.csv.gz", 120_000, 1), fmt=fmt, database="other", run_id="r", source_file="bomb.csv.gz"))
    assert str(err.value).startswith(f"bomb.csv.gz:{2 + 99_999}: the row starting at line 2 is longer than")
