"""Reading and writing TSV/JSON deterministically and atomically (the only file I/O helpers)."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterator, TextIO

from .constants import FLOAT_FORMAT
from .errors import InputFormatError, LivingReviewError

csv.field_size_limit(1 << 30)


def format_value(value: Any) -> str:
    """Render a cell: None -> "", floats in FLOAT_FORMAT, everything else str(); tabs/newlines folded."""
    if value.__class__ is str:  # the common case first (tables are mostly text)
        if "\t" in value or "\n" in value or "\r" in value:
            return " ".join(value.split())
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return FLOAT_FORMAT.format(value + 0.0)  # + 0.0 turns -0.0 into 0.0: one spelling of zero
    text = str(value)
    if "\t" in text or "\n" in text or "\r" in text:
        text = " ".join(text.split())
    return text


def umask_mode(mode: int) -> int:
    """``mode`` (0o666 for files, 0o777 for folders) less the process umask: what open() or mkdir() would give.

    Temporary files and folders are created 0600/0700 (tempfile); renaming them into place keeps
    that mode, so atomic writers set this one first.
    """
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


def format_fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals for people to read; a value that rounds to zero is "0.00", never "-0.00"."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, umask_mode(0o666))
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_tsv(path: str | os.PathLike[str], fields: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows (dicts) with a header, atomically; returns the number of rows written.

    A row whose line would start with "#" (read_tsv skips such comment lines) or be blank is refused
    (InputFormatError naming the row and nothing written), so what is written is what is read back.
    """
    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write("\t".join(fields) + "\n")
            for line in _tsv_lines(fields, rows):
                if line.startswith("#") or not line.strip():
                    raise InputFormatError(
                        f"row {n + 1} would be read back as a {'comment' if line.strip() else 'blank'} line: {line[:60]!r}",
                        where=f"{path} (row {n + 1}, column {fields[0]})" if fields else str(path),
                        fix="a table's first column must not start with '#' and a row must not be empty; correct the value that produced it",
                    )
                fh.write(line + "\n")
                n += 1
    return n


def _tsv_lines(fields: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The line (without its newline) of each row: its cells in ``fields`` order, each format_value'd.

    Most rows of the big tables hold only plain text without tabs or line breaks, for which
    format_value changes nothing: such a row is joined as it is, with format_value only for values
    that are not text (None, numbers, bools), whose text never holds a tab or line break; a line
    with more tabs than the fields call for or a line break is formatted cell by cell instead. The
    lines are the same either way; the shortcut only skips the calls.
    (A str subclass is joined as its text, which is what format_value's str() gives unless the
    subclass redefines __str__, as a str-mixin Enum does; no table holds one.)
    """
    fmt = format_value
    pick = itemgetter(*fields) if len(fields) > 1 else None  # itemgetter of one field gives the value itself, not a tuple
    tabs = len(fields) - 1
    for row in rows:
        values = None
        if pick is not None and row.__class__ is dict:  # not a subclass: a defaultdict or Counter fills a missing key where .get gives None
            try:
                values = pick(row)
            except KeyError:  # a row may leave out columns (written empty)
                pass
        if values is None:
            get = row.get
            values = tuple([get(f) for f in fields])
        try:
            line = "\t".join(values)
        except TypeError:  # a value that is not text (None, a number, a bool): format_value it (its text has no tab or line break)
            line = "\t".join([v if v.__class__ is str else fmt(v) for v in values])
        if line.count("\t") != tabs or "\n" in line or "\r" in line:
            line = "\t".join([fmt(v) for v in values])
        yield line


def not_utf8_error(path: str | os.PathLike[str], error: type[LivingReviewError] = InputFormatError, fix: str = "") -> LivingReviewError:
    """``error`` naming file:line and the first byte of ``path`` that is not UTF-8 (call it on a UnicodeDecodeError)."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
        start = len(data)
    except UnicodeDecodeError as err:
        start = err.start
    line = data.count(b"\n", 0, start) + 1
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    byte = f"byte 0x{data[start]:02x}" if start < len(data) else "a byte"
    return error(
        f"{byte} (byte {column} of the line) is not UTF-8 text",
        where=f"{path}:{line}",
        fix=fix or "save the file as UTF-8 (in a spreadsheet: 'Unicode (UTF-8)' or 'CSV UTF-8'), or retype the character",
    )


def read_tsv(path: str | os.PathLike[str], required: Sequence[str] = ()) -> list[dict[str, str]]:
    """Read a UTF-8 TSV with a header into dicts; a missing required column is an InputFormatError,
    and so is a byte that is not UTF-8 (naming its line)."""
    header, rows = read_tsv_cells(path, required)
    keys = [*header, "_line"]
    return [dict(zip(keys, cells)) for cells in rows]


def read_tsv_cells(path: str | os.PathLike[str], required: Sequence[str] = ()) -> tuple[list[str], Iterator[list[str]]]:
    """``read_tsv`` without a dict per row: the header, and an iterator over the rows, each the list
    of its cells (one per column, in header order) followed by its line number (text).

    The header is checked at once and each row as it is read, with read_tsv's errors. For the tables
    of hundreds of thousands of rows that a stage turns into rows of its own: reading them as dicts
    first costs as much again.
    """
    p = Path(path)
    if not p.exists():
        raise InputFormatError("file not found", where=str(p), fix="check the path or re-run the stage that writes it")
    fh = open(p, encoding="utf-8-sig", newline="")
    try:
        header, cr_lines = _tsv_checked_header(fh, p, required)
    except UnicodeDecodeError:
        fh.close()
        raise not_utf8_error(path) from None
    except BaseException:
        fh.close()
        raise
    return header, _tsv_cells(fh, path, p, header, cr_lines)


def read_tsv_columns(path: str | os.PathLike[str], columns: Sequence[str]) -> Iterator[list[str]]:
    """``read_tsv_cells(path, required=columns)`` keeping only ``columns``: each row the list of
    their cells, in ``columns`` order, followed by its line number (text)."""
    header, rows = read_tsv_cells(path, required=columns)
    pick = [header.index(c) for c in columns]
    if pick == list(range(len(header))):  # every column, in header order (the ledger): the cells as they are
        return rows
    if len(pick) == 1:
        only = pick[0]
        return ([cells[only], cells[-1]] for cells in rows)
    get = itemgetter(*pick)
    return ([*get(cells), cells[-1]] for cells in rows)


# Tabs an editor turned into spaces: a short row holding at least one run of 2+ spaces per missing cell.
SPACE_RUN = re.compile(r" {2,}")
TAB_FIX = "separate the columns with tab characters (in a spreadsheet: save as tab-separated text; in an editor: turn off 'insert spaces for tabs')"


def _nul_error(p: Path, lineno: int) -> InputFormatError:
    """A NUL byte in a table: UTF-16 saved without a byte-order mark (every other byte NUL), or damage;
    read on, the NULs would reach every output (a reviewer "A\x00" is not reviewer "A")."""
    return InputFormatError(
        "the line holds a NUL byte (0x00): the file is UTF-16 text or damaged, not UTF-8",
        where=f"{p}:{lineno}",
        fix="save the file as UTF-8 text (in a spreadsheet: 'Unicode (UTF-8)' or 'CSV UTF-8'), or remove the stray byte",
    )


CR_FIX = "remove the stray carriage return from that line (an editor may show it as ^M; pasted text often brings one), or save the file with one kind of line ending"


def _stray_cr_error(p: Path, lineno: int, line: str, header: Sequence[str] | None = None) -> InputFormatError:
    """A carriage return not followed by a line feed at the end of ``line`` (as read: the reader ends a
    line there) in a file of line-feed lines: it splits the line in two, so the rest of the line would
    be read as a row of its own (and found to have too few cells). ``header`` None: ``line`` is the header."""
    cells = line.split("\t")
    if header is None:
        column = f"the header's column {cells[-1]!r}"
    elif len(cells) <= len(header):
        column = f"column {header[len(cells) - 1]!r} (cell {len(cells)})"
    else:
        column = f"cell {len(cells)}"
    return InputFormatError(
        f"a carriage return (\\r) not followed by a line feed, in {column}: it ends the line there, so the rest "
        "of the line would be read as another row",
        where=f"{p}:{lineno}",
        fix=CR_FIX,
    )


def _holds_line_feed(p: Path) -> bool:
    """True when the file holds a line feed (read in blocks: only for a header that ends with a lone carriage return)."""
    with open(p, "rb") as fh:
        while block := fh.read(1 << 16):
            if b"\n" in block:
                return True
    return False


def _tsv_checked_header(fh: TextIO, p: Path, required: Sequence[str]) -> tuple[list[str], bool]:
    """The header's column names, checked, and whether the file's lines end with a lone carriage return
    (its header line does, and the file holds no line feed)."""
    header_line = fh.readline()
    if "\x00" in header_line:
        raise _nul_error(p, 1)
    if not header_line.strip():
        raise InputFormatError("empty file (no header line)", where=f"{p}:1", fix="add a tab-separated header")
    cr_lines = _header_ends_in_cr(p, header_line)
    header = header_line.rstrip("\r\n").split("\t")
    repeated = sorted({c for c in header if header.count(c) > 1 or c == "_line"})
    if repeated:
        # dict(zip(...)) would keep only the last of two same-named columns (and "_line" is the reader's own key).
        raise InputFormatError(
            f"column name(s) {', '.join(repr(c) for c in repeated)} repeated or reserved in the header",
            where=f"{p}:1",
            fix="give every column its own name (and none the name '_line')",
        )
    missing = [c for c in required if c not in header]
    spaced = [c for c in header if len(c.split()) > 1 and any(word in missing for word in c.split())]
    if spaced:
        raise InputFormatError(
            f"the header's columns are separated by spaces, not tabs: {spaced[0]!r} is one column to a TSV reader",
            where=f"{p}:1",
            fix=TAB_FIX,
        )
    if missing:
        raise InputFormatError(
            f"missing column(s) {', '.join(missing)}; header has {', '.join(header)}",
            where=f"{p}:1",
            fix="add the column(s) to the header line",
        )
    return header, cr_lines


def _tsv_cells(fh: TextIO, path: str | os.PathLike[str], p: Path, header: Sequence[str], cr_lines: bool) -> Iterator[list[str]]:
    width = len(header)
    with fh:
        try:
            # The reader ends a line at "\n", "\r\n" and a lone "\r". Unless every line of the file ends
            # with a lone "\r" (``cr_lines``: old Mac spreadsheets), a line read up to a lone "\r" with more
            # text after it holds a stray carriage return (a line break typed inside a spreadsheet cell):
            # its line would be read as two rows, the first short, so it is refused, naming the line,
            # before its cells are read. (A line of "\r\n" ends with "\n"; a last line may end with "\r".)
            for lineno, line in enumerate(fh, start=2):
                if line[-1] == "\r" and not cr_lines and fh.readline() != "":  # readline after next() is fine on a text file
                    raise _stray_cr_error(p, lineno, line[:-1], header)
                line = line.rstrip("\r\n")
                if "\x00" in line:
                    raise _nul_error(p, lineno)
                if not line or line[0] == "#" or line.isspace():
                    continue
                cells = line.split("\t")
                if len(cells) != width:
                    if len(cells) > width:
                        raise InputFormatError(
                            f"{len(cells)} cells but the header has {width} columns",
                            where=f"{p}:{lineno}",
                            fix="remove the extra tab(s) on that line",
                        )
                    if len(cells) == 1 and " " in line.strip():
                        # no tab at all: a row typed (or pasted) with single spaces between its values
                        raise InputFormatError(
                            f"no tab on the line but the header has {width} columns, and its values are separated by spaces",
                            where=f"{p}:{lineno}",
                            fix=f"{TAB_FIX}; if the spaces belong in a value, end the line with the tabs of its empty cells",
                        )
                    if len(SPACE_RUN.findall(line)) >= width - len(cells):
                        raise InputFormatError(
                            f"{len(cells)} tab-separated cells but the header has {width} columns, and the line has runs of "
                            "spaces where the tabs would be (an editor may have turned its tabs into spaces)",
                            where=f"{p}:{lineno}",
                            fix=f"{TAB_FIX}; if the spaces belong in a value, end the line with the tabs of its empty cells",
                        )
                    cells += [""] * (width - len(cells))  # a spreadsheet leaves out the tabs of empty cells at the end
                cells.append(str(lineno))
                yield cells
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None


def _header_ends_in_cr(p: Path, line: str) -> bool:
    """True when the header line ends in a lone carriage return, as every line of an old Mac file does;
    in a file that also holds a line feed it is a stray one: InputFormatError naming line 1."""
    if line[-1:] != "\r":
        return False
    if _holds_line_feed(p):
        raise _stray_cr_error(p, 1, line[:-1])
    return True


def tsv_header(path: str | os.PathLike[str]) -> list[str]:
    """The column names of a TSV (its first line; [] for an empty file); a stray carriage return in
    the header line is read_tsv's InputFormatError."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None
    _header_ends_in_cr(Path(path), line)
    line = line.rstrip("\r\n")
    return line.split("\t") if line.strip() else []


def workdir_relative(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working directory (the review folder) when it lies inside it, as
    posix text (Snakemake makes a ``--configfile`` path absolute); otherwise as given."""
    p = Path(path)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            pass
    return p.as_posix()


def read_json(path: str | os.PathLike[str], *, fix: str, error: type[LivingReviewError] = InputFormatError) -> Any:
    """Parse a UTF-8 JSON file; a missing file or a syntax error raises ``error`` naming file:line and ``fix``."""
    p = Path(path)
    if not p.exists():
        raise error("file not found", where=str(p), fix=fix)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise not_utf8_error(p, error, fix) from None
    except json.JSONDecodeError as err:
        raise error(f"not valid JSON ({err.msg})", where=f"{p}:{err.lineno}", fix=fix) from None


def dumps_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, floats in FLOAT_FORMAT precision, trailing newline."""

    def norm(x: Any) -> Any:
        if isinstance(x, float):
            if math.isnan(x) or math.isinf(x):
                return None
            return float(FLOAT_FORMAT.format(x + 0.0))  # -0.0 written as 0.0
        if isinstance(x, Mapping):
            return {str(k): norm(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [norm(v) for v in x]
        return x

    return json.dumps(norm(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write deterministic JSON atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(dumps_json(data), encoding="utf-8")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
