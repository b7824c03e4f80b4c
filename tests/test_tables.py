"""tables.py: atomic writes keep the ordinary file mode; read_tsv refuses headers that would lose cells."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from livingreview.errors import InputFormatError
from livingreview.tables import dumps_json, format_fixed, format_value, read_tsv, read_tsv_cells, umask_mode, write_json, write_text, write_tsv


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writes_get_the_mode_open_would_give(tmp_path: Path) -> None:
    reference = tmp_path / "plain.txt"
    reference.write_text("x\n", encoding="utf-8")
    written = [tmp_path / "a.tsv", tmp_path / "b.json", tmp_path / "c.txt"]
    write_tsv(written[0], ["a"], [{"a": 1}])
    write_json(written[1], {"a": 1})
    write_text(written[2], "x\n")
    for path in written:
        assert _mode(path) == _mode(reference) == umask_mode(0o666), path
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_umask_mode_follows_the_umask() -> None:
    old = os.umask(0o027)
    try:
        assert umask_mode(0o666) == 0o640
        assert umask_mode(0o777) == 0o750
    finally:
        os.umask(old)


@pytest.mark.parametrize(("header", "name"), [("a\tb\ta", "'a'"), ("a\t_line", "'_line'")])
def test_read_tsv_refuses_repeated_or_reserved_columns(tmp_path: Path, header: str, name: str) -> None:
    path = tmp_path / "t.tsv"
    path.write_text(f"{header}\n1\t2\t3\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=rf"t\.tsv:1: column name\(s\) {name} repeated or reserved"):
        read_tsv(path)


def test_read_tsv_rows_keep_every_cell_and_their_line(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\n1\t2\n\n# note\n3\n", encoding="utf-8")
    assert read_tsv(path, required=("a",)) == [{"a": "1", "b": "2", "_line": "2"}, {"a": "3", "b": "", "_line": "5"}]


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [(-0.001, 2, "0.00"), (-0.0, 1, "0.0"), (-0.005001, 2, "-0.01"), (1.005, 0, "1"), (-12.345, 1, "-12.3")],
)
def test_format_fixed_has_one_zero(value: float, digits: int, text: str) -> None:
    assert format_fixed(value, digits) == text


def test_negative_zero_is_written_as_zero(tmp_path: Path) -> None:
    assert format_value(-0.0) == format_value(0.0) == "0"
    assert dumps_json({"x": -0.0}) == dumps_json({"x": 0.0})
    write_tsv(tmp_path / "z.tsv", ["x"], [{"x": -0.0}])
    assert (tmp_path / "z.tsv").read_text(encoding="utf-8") == "x\n0\n"


@pytest.mark.parametrize(("row", "kind"), [({"id": "#3", "x": "a"}, "comment"), ({"id": "", "x": None}, "blank")])
def test_write_tsv_refuses_rows_read_tsv_would_skip(tmp_path: Path, row: dict[str, object], kind: str) -> None:
    path = tmp_path / "t.tsv"
    with pytest.raises(InputFormatError, match=rf"t\.tsv \(row 2, column id\): row 2 would be read back as a {kind} line"):
        write_tsv(path, ["id", "x"], [{"id": "a", "x": "b"}, row])
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_read_tsv_names_the_line_of_a_byte_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "effects.tsv"
    path.write_bytes(b"study\tyi\tvi\nA\t0.5\t0.1\nB\t0.4\t0.1\xe9\n")
    with pytest.raises(InputFormatError) as err:
        read_tsv(path)
    assert err.value.one_line() == f"{path}:3: byte 0xe9 (byte 10 of the line) is not UTF-8 text; fix: save the file as UTF-8 (in a spreadsheet: 'Unicode (UTF-8)' or 'CSV UTF-8'), or retype the character"


def _error(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InputFormatError) as err:
        call()
    return err.value.one_line()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "t.tsv: file not found"),
        (b"", "t.tsv:1: empty file (no header line)"),
        (b"a\tb\ta\n1\t2\t3\n", "t.tsv:1: column name(s) 'a' repeated or reserved in the header"),
        (b"b\tc\n1\t2\n", "t.tsv:1: missing column(s) a; header has b, c"),
        (b"a\tb\n1\t2\n3\t4\t5\n", "t.tsv:3: 3 cells but the header has 2 columns"),
        (b"a\tb\xe9\n1\t2\n", "t.tsv:1: byte 0xe9 (byte 4 of the line) is not UTF-8 text"),
        (b"a\tb\n1\t2\n3\t4\xe9\n", "t.tsv:3: byte 0xe9 (byte 4 of the line) is not UTF-8 text"),
        # a lone carriage return inside a line of a "\n" or "\r\n" file (header or row): the line and the column
        (b"a\tb\n1\t2\r3\n4\t5\n", "t.tsv:2: a carriage return (\\r) not followed by a line feed, in column 'b' (cell 2)"),
        (b"a\tb\r\n1\t2\r\nx\ry\t3\r\n", "t.tsv:3: a carriage return (\\r) not followed by a line feed, in column 'a' (cell 1)"),
        (b"a\tb\tc\n1\t2\t3\t\r4\n", "t.tsv:2: a carriage return (\\r) not followed by a line feed, in cell 4"),
        (b"a\tb\r\tc\n1\t2\t3\n", "t.tsv:1: a carriage return (\\r) not followed by a line feed, in the header's column 'b'"),
        # a row error before a bad byte in a later part of the file: the row error, as the line-by-line reader finds it
        (b"a\tb\n1\t2\t3\n" + b"4\t5\n" * 20000 + b"6\t\xe9\n", "t.tsv:2: 3 cells but the header has 2 columns"),
    ],
)
def test_read_tsv_cells_checks_as_read_tsv_does(tmp_path: Path, data: bytes | None, message: str) -> None:
    """read_tsv_cells (the reader without a dict per row) raises read_tsv's error, word for word."""
    path = tmp_path / "t.tsv"
    if data is not None:
        path.write_bytes(data)

    def cells() -> list[list[str]]:
        header, rows = read_tsv_cells(path, required=("a",))
        return [header, *rows]

    assert _error(lambda: read_tsv(path, required=("a",))) == _error(cells)
    assert _error(cells).startswith(f"{tmp_path}/{message}")


def test_read_tsv_cells_gives_the_cells_and_line_of_each_row(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_bytes("\ufeffa\tb\r\n1\t2\r\n\r\n# note\n3\n".encode())
    header, rows = read_tsv_cells(path, required=("b",))
    assert header == ["a", "b"]
    assert list(rows) == [["1", "2", "2"], ["3", "", "5"]]
    assert read_tsv(path) == [{"a": "1", "b": "2", "_line": "2"}, {"a": "3", "b": "", "_line": "5"}]


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (b"a\tb\r\n1\t2\r\n3\t4\r\n", [("1", "2", "2"), ("3", "4", "3")]),  # CRLF
        (b"a\tb\r1\t2\r3\t4\r", [("1", "2", "2"), ("3", "4", "3")]),  # every line ended by a lone "\r" (old Mac spreadsheets)
        (b"a\tb\n1\t2\n3\t4\r", [("1", "2", "2"), ("3", "4", "3")]),  # a lone "\r" at the very end splits nothing
        (b"a\tb\n1\t2\r\n3\t4\n", [("1", "2", "2"), ("3", "4", "3")]),  # one line saved with CRLF among "\n" lines
        # CRLF lines across the reader's buffer boundaries (a "\r" at the end of one block, its "\n" in the next)
        (b"a\tb\r\n" + b"x\ty\r\n" * 30000 + b"xx\ty\r\n" * 30000, [("x", "y")] * 30000 + [("xx", "y")] * 30000),
    ],
    ids=["crlf", "cr", "cr-at-end", "mixed", "crlf-blocks"],
)
def test_line_endings_that_split_no_line_read_as_rows(tmp_path: Path, data: bytes, rows: list[tuple[str, ...]]) -> None:
    path = tmp_path / "t.tsv"
    path.write_bytes(data)
    header, cells = read_tsv_cells(path, required=("a",))
    got = [tuple(c) for c in cells]
    assert header == ["a", "b"]
    if len(rows[0]) == 2:  # no line numbers given: they are 2, 3, ...
        rows = [(*r, str(n)) for n, r in enumerate(rows, start=2)]
    assert got == rows
    assert [(r["a"], r["b"], r["_line"]) for r in read_tsv(path)] == rows


def test_columns_separated_by_spaces_are_named_as_such(tmp_path: Path) -> None:
    # An editor that turns tabs into spaces: the header, or a row, says so (not "missing column
    # key, ..." or "column 'date' value '' is not allowed" as before) and names the fix.
    path = tmp_path / "decisions.tsv"
    path.write_text("key  stage  decision\n1\tt\tinclude\n", encoding="utf-8")
    with pytest.raises(InputFormatError) as err:
        read_tsv(path, required=("key", "stage", "decision"))
    assert str(err.value).startswith(f"{path}:1: the header's columns are separated by spaces, not tabs: 'key stage decision' is one column")  # one line: spaces collapsed
    assert "fix: separate the columns with tab characters" in str(err.value)
    path.write_text("key\tstage\tdecision\tnote\n1\tt\tinclude\tok\n2    t    exclude\tok\n", encoding="utf-8")
    with pytest.raises(InputFormatError) as err:
        read_tsv(path, required=("key",))
    assert str(err.value).startswith(f"{path}:3: 2 tab-separated cells but the header has 4 columns, and the line has runs of spaces where the tabs would be")
    # a short row whose double space is in a value is told how to keep it
    path.write_text("key\tstage\tdecision\tnote\n3\tt\tinclude  now\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="if the spaces belong in a value, end the line with the tabs of its empty cells$"):
        read_tsv(path)
    # a row typed with single spaces between its values (no tab at all): named as such, not as an
    # empty value of some later column ("column 'date' value '' is not allowed", as before)
    path.write_text("key\tstage\tdecision\tnote\n1\tt\tinclude\tok\nembase:2025-10-31#1 title_abstract exclude\n", encoding="utf-8")
    with pytest.raises(InputFormatError) as err:
        read_tsv(path, required=("key",))
    assert str(err.value).startswith(f"{path}:3: no tab on the line but the header has 4 columns, and its values are separated by spaces")
    assert "fix: separate the columns with tab characters" in str(err.value)
    assert str(err.value).endswith("if the spaces belong in a value, end the line with the tabs of its empty cells")
    assert "\n" not in str(err.value)
    # a spreadsheet's row without the tabs of its empty last cells, double spaces in a whole row, and
    # a header whose column names hold spaces are read as before
    path.write_text("key\tthe stage\tdecision\tnote\n1\tt\n2\tt\tinclude\tend.  Next\n3\tt\tinclude  now\t\n", encoding="utf-8")
    assert [(r["key"], r["the stage"], r["decision"], r["note"]) for r in read_tsv(path, required=("key",))] == [
        ("1", "t", "", ""), ("2", "t", "include", "end.  Next"), ("3", "t", "include  now", ""),
    ]


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ("reviewer\tnote\nA\tok\n".encode("utf-16-le"), 1),  # a spreadsheet's 'Unicode Text' without its byte-order mark
        (b"reviewer\tnote\nA\tok\nA\x00\tok\n", 3),  # a stray NUL: reviewer "A\x00" would count as a second reviewer
    ],
)
def test_a_nul_byte_in_a_table_is_one_error_naming_its_line(tmp_path: Path, data: bytes, line: int) -> None:
    path = tmp_path / "decisions.tsv"
    path.write_bytes(data)
    with pytest.raises(InputFormatError) as err:
        read_tsv(path, required=("reviewer",))
    assert err.value.one_line() == (
        f"{path}:{line}: the line holds a NUL byte (0x00): the file is UTF-16 text or damaged, not UTF-8; "
        "fix: save the file as UTF-8 text (in a spreadsheet: 'Unicode (UTF-8)' or 'CSV UTF-8'), or remove the stray byte"
    )


def test_write_tsv_lines_are_the_format_value_of_every_cell(tmp_path: Path) -> None:
    """write_tsv joins plain-text rows without formatting each cell: every kind of row still gives
    exactly the cells format_value gives (text with tabs or line breaks folded, None, numbers, bools,
    a missing key, a Counter or defaultdict row whose [] would differ from .get, a str subclass)."""
    from collections import Counter, defaultdict

    class Text(str):
        pass

    fields = ["a", "b", "c"]
    rows: list[dict[str, object]] = [
        {"a": "x", "b": "y", "c": "z"},
        {"a": "x\ty", "b": "two\nlines", "c": "cr\rhere"},
        {"a": "a", "b": "b\tc", "c": "d"},
        {"a": "x", "b": None, "c": 1.5},
        {"a": "x", "b": True, "c": -0.0},
        {"a": "x", "b": 3, "c": float("nan")},
        {"a": "t\tab", "b": None, "c": 2},
        {"a": "line\nbreak", "b": False, "c": "x"},
        {"a": "only a"},
        Counter({"a": 2}),
        defaultdict(int, {"a": "x", "b": "y"}),
        {"a": Text("sub"), "b": "y", "c": "z"},
    ]
    expected = ["\t".join(fields)] + ["\t".join(format_value(row.get(f)) for f in fields) for row in rows]
    assert expected[10] == "2\t\t" and expected[11] == "x\ty\t"  # .get, not []: nothing filled in
    assert expected[7] == "t ab\t\t2" and expected[8] == "line break\tfalse\tx"
    path = tmp_path / "t.tsv"
    assert write_tsv(path, fields, rows) == len(rows)
    assert path.read_text(encoding="utf-8").split("\n") == [*expected, ""]
    write_tsv(path, ["a"], [{"a": "x\ty"}, {"a": 2.0}, {"a": 7}])  # one column: no tuple of values
    assert path.read_text(encoding="utf-8") == "a\nx y\n2\n7\n"


def test_read_records_gives_what_from_row_of_read_tsv_gives(tmp_path: Path) -> None:
    """records.read_records_table builds Records from the cells of a full records.tsv header (no dict per
    row): the same records as Record.from_row on read_tsv's rows, for list cells with empty items,
    an empty source_line, a short row and a table that lacks columns; the same error on a bad line."""
    from livingreview.constants import LIST_SEP, RECORD_FIELDS
    from livingreview.records import Record, read_records_table

    full = tmp_path / "records.tsv"
    a = Record(record_id="pubmed:1", run_id="r1", database="pubmed", title="A trial", authors=("Doe J", "Roe K"), mesh=("Ketamine",), source_line=7)
    b = Record(record_id="embase:2", run_id="r1", database="embase", title="B", keywords=("x", "y"), year="2020")
    write_tsv(full, RECORD_FIELDS, [a.to_row(), b.to_row()])
    text = full.read_text(encoding="utf-8")
    row_c = {name: "" for name in RECORD_FIELDS} | {"record_id": "psycinfo:3", "title": "C", "authors": f"Poe A{LIST_SEP}{LIST_SEP}Zoe B{LIST_SEP}"}
    line_c = "\t".join(row_c[name] for name in RECORD_FIELDS).rstrip("\t")  # a spreadsheet drops the empty cells at the end
    full.write_text(text + line_c + "\n", encoding="utf-8")
    expected = [Record.from_row(r) for r in read_tsv(full, required=("record_id", "title"))]
    got = read_records_table(full, required=("record_id", "title"))
    assert got == expected and [r.source_line for r in got] == [7, 0, 0]
    assert got[0] == a and got[2].authors == ("Poe A", "Zoe B")
    part = tmp_path / "part.tsv"
    part.write_text("record_id\ttitle\tauthors\textra_column\nx:1\tT\tA; B\tz\n", encoding="utf-8")
    assert read_records_table(part) == [Record.from_row(r) for r in read_tsv(part)] == [Record(record_id="x:1", title="T", authors=("A", "B"))]
    bad = tmp_path / "bad.tsv"
    bad.write_text(text + "\t".join(["y:1"] * (len(RECORD_FIELDS) + 1)) + "\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=rf"bad\.tsv:4: {len(RECORD_FIELDS) + 1} cells but the header has"):
        read_records_table(bad)


def test_read_tsv_columns_gives_the_cells_of_read_tsv(tmp_path: Path) -> None:
    """read_tsv_columns: the cells of the columns asked for, in that order, then the line number;
    every column in header order, a reordered subset and a single column alike."""
    from livingreview.tables import read_tsv_columns

    path = tmp_path / "t.tsv"
    path.write_text("a\tb\tc\n1\t2\t3\n# note\n4\t5\n\n7\t8\t9\n", encoding="utf-8")
    rows = read_tsv(path)
    for columns in (("a", "b", "c"), ("c", "a"), ("b",), ("a", "b"), ("c", "b", "a")):
        assert list(read_tsv_columns(path, columns)) == [[*(r[c] for c in columns), r["_line"]] for r in rows], columns
    assert list(read_tsv_columns(path, ("a", "b", "c")))[1] == ["4", "5", "", "4"]
    with pytest.raises(InputFormatError, match=r"t\.tsv:1: missing column\(s\) d"):
        read_tsv_columns(path, ("a", "d"))
