"""Parsers for CSV exports: generic bibliographic CSV (ASySD, Covidence, Rayyan, reference managers) and ClinicalTrials.gov CSV."""

from __future__ import annotations

import csv
import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence

from ..errors import InputFormatError
from ..records import Record
from .common import clean, clean_text, find_registrations, find_year, make_record_id, normalise_doi, unique
from .textio import MAX_LINE_CHARS, bounded_lines, open_text, too_long

# Record field -> accepted column names (compared case-insensitively, spaces and underscores ignored).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "record_id": ("record_id", "recordid", "id", "key", "covidence #", "refid"),
    "pmid": ("pmid", "pubmed id", "pubmedid"),
    "title": ("title", "article title", "ti", "primary title", "document title"),
    "authors": ("authors", "author", "author(s)", "au", "author full names"),
    "year": ("year", "publication year", "published year", "py", "pubyear", "year published"),
    "journal": ("journal", "source title", "secondary title", "journal/book", "publication title", "source", "journal title"),
    "journal_abbrev": ("journal abbreviation", "journal_abbrev", "abbreviated source title", "ja"),
    "volume": ("volume", "vl"),
    "issue": ("issue", "number", "is"),
    "pages": ("pages", "page", "page(s)", "pagination"),
    "doi": ("doi",),
    "abstract": ("abstract", "ab"),
    "keywords": ("keywords", "author keywords", "kw"),
    "mesh": ("mesh", "mesh terms", "mesh headings"),
    "publication_types": ("publication type", "publication types", "type", "document type"),
    "language": ("language", "language of original document", "la"),
    "url": ("url", "link"),
}
# The column that marks a ClinicalTrials.gov CSV (format detection looks for it in the first line).
CTGOV_REQUIRED = "nct number"
_DELIMITERS = ",;\t|"


def _norm(name: str) -> str:
    """Column name as compared: lower case, BOM/quotes stripped, underscores as spaces, spaces collapsed."""
    return " ".join(name.replace("\ufeff", "").strip().strip('"').replace("_", " ").lower().split())


def _column_map(header: list[str], aliases: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Record field -> column index, first alias present wins."""
    index = {}
    for i, name in enumerate(header):
        index.setdefault(_norm(name), i)
    out: dict[str, int] = {}
    for field_name, names in aliases.items():
        for alias in names:
            if _norm(alias) in index:
                out[field_name] = index[_norm(alias)]
                break
    return out


def _split_list(value: str, seps: str = ";") -> list[str]:
    """Split a multi-valued cell on ';' (or the given separators); a cell without separators is one value."""
    parts = [value]
    for sep in seps:
        parts = [p for part in parts for p in part.split(sep)]
    return [clean(p) for p in parts if clean(p)]


# One name of PubMed's author lists ("Feder A", "de Oliveira Filho ASB", "Smith J Jr"): surname words, then 1-4 initials.
_SURNAME_INITIALS_RE = re.compile(r"^[^\W\d_][^\s,;]*(?:\s+[^\W\d_][^\s,;]*)*\s+[A-Z]{1,4}(?:\s+(?:Jr|Sr|2nd|3rd|II|III))?$")


def _split_authors(value: str) -> list[str]:
    """Authors of a cell: split on ';'; a cell without ';' whose comma-separated parts all look like
    'Surname INITIALS' (PubMed's CSV: "Feder A, Parides MK, Murrough JW.") is split on ', ' and loses
    the list's final period. Anything else ("Feder, A.", a group name among the names) is one value.
    """
    if ";" in value:
        return _split_list(value)
    text = clean(value)
    parts = [p.strip() for p in text.removesuffix(".").split(",")]
    if text and all(_SURNAME_INITIALS_RE.match(p) for p in parts):
        return parts
    return [text] if text else []


def _delimiter(header_line: str) -> str:
    """The delimiter of a CSV, read from its header line: the most frequent of , ; TAB | outside quotes."""
    outside, quoted = [], False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(ch)
    text = "".join(outside)
    counts = {d: text.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class _RowLines:
    """The lines the csv reader takes, counted per row: a row whose lines (a quoted cell over many lines)
    hold more than ``limit`` characters, the limit on one line, raises InputFormatError naming the file
    and the line that crossed it, as RIS and MEDLINE refuse a field continued past it (the csv module
    would gather the cell, up to tables.py's 1 GB field limit, in memory). Call ``row_read`` after
    each row the reader gives."""

    def __init__(self, lines: Iterator[str], src: str, *, limit: int = MAX_LINE_CHARS) -> None:
        self.lines, self.src, self.limit = lines, src, limit
        self.lineno, self.start, self.size = 0, 1, -1

    def __iter__(self) -> _RowLines:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.lineno += 1
        self.size += 1 + len(line.rstrip("\n"))  # its lines joined by one newline each
        if self.size > self.limit:
            raise too_long(
                f"the row starting at line {self.start} is longer than the {self.limit:,} characters a row of a text export may hold, "
                "over many lines (a quoted cell never closed, or a file built to exhaust memory)",
                where=f"{self.src}:{self.lineno}",
            )
        return line

    def row_read(self) -> None:
        self.start, self.size = self.lineno + 1, -1


def _rows(
    path: str | os.PathLike[str], src: str, check_header: Callable[[list[str]], object] | None = None
) -> Iterator[tuple[int, list[str], str, list[str]]]:
    """Yield (line where the row starts, header, encoding, cells) for each non-blank data row.

    ``check_header`` is called with the header row as soon as it is read (before any data row), so a
    file with a header and no data rows is still checked for its required columns.
    """
    stream, encoding = open_text(path, name=src)
    with stream:
        lines = bounded_lines(stream, src)
        first_line = next(lines, "")
        rows = _RowLines(itertools.chain((first_line,), lines) if first_line else lines, src)
        reader = csv.reader(rows, delimiter=_delimiter(first_line), quotechar='"', doublequote=True, strict=True)
        prev = 0
        try:
            header = next(reader, None)
            if header is None:
                raise InputFormatError("empty CSV file (no header line)", where=f"{src}:1", fix="export the file again with a header row")
            header[0] = header[0].lstrip("\ufeff")
            prev = reader.line_num
            rows.row_read()
            _check_repeated_columns(header, src)
            if check_header is not None:
                check_header(header)
            for cells in reader:
                rows.row_read()
                start = prev + 1
                prev = reader.line_num
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(header):
                    raise InputFormatError(
                        f"{len(cells)} cells but the header has {len(header)} columns",
                        where=f"{src}:{start}",
                        fix="check the quoting of that row (a comma inside an unquoted field?) and export again",
                    )
                yield start, header, encoding, cells + [""] * (len(header) - len(cells))
        except csv.Error as err:
            if "unexpected end of data" in str(err):
                raise InputFormatError(
                    f"a quoted cell in the row starting at line {prev + 1} is never closed (the file is truncated or badly quoted)",
                    where=f"{src}:{prev + 1}",
                    fix="export the file again as CSV; archived exports must be complete",
                ) from None
            raise InputFormatError(f"malformed CSV ({err})", where=f"{src}:{reader.line_num}", fix="export the file again as CSV") from None


def _check_repeated_columns(header: list[str], src: str) -> None:
    """A column name given twice (compared as _norm compares them; blank names may repeat) is an
    InputFormatError: which of the two holds the values cannot be told ("Title,Title,DOI,DOI")."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        key = _norm(name)
        if not key:
            continue
        if key in seen:
            raise InputFormatError(
                f"column {clean(name)!r} occurs twice (columns {seen[key]} and {i}); the header is: {', '.join(clean(h) for h in header)}",
                where=f"{src}:1",
                fix="export the file again, or rename or delete one of the two columns so each column name occurs once",
            )
        seen[key] = i


def _cell_reader(cells: Sequence[str], columns: Mapping[str, int]) -> Callable[[str], str]:
    """A function giving a row's cleaned cell by canonical column name ("" when the file has no such column)."""

    def cell(name: str) -> str:
        i = columns.get(name)
        return clean(cells[i]) if i is not None else ""

    return cell


def parse_csv(
    path: str | os.PathLike[str], *, database: str, run_id: str, source_file: str | None = None
) -> Iterator[Record]:
    """Yield one Record per data row of a bibliographic CSV.

    Columns are matched case-insensitively with aliases (COLUMN_ALIASES). record_id comes from a
    record_id/ID column when present (for PubMed/MEDLINE, else a PMID column), otherwise the row
    number. A file without a title column raises InputFormatError naming the columns it has (also
    when it has no data rows).
    Multi-valued cells (authors, keywords, ...) are split on ';'; an author cell without ';' is also
    split on ', ' when every part is 'Surname INITIALS' (PubMed's CSV); other text is kept as given.
    """
    src = source_file or str(path)
    columns: dict[str, int] = {}

    def check_header(header: list[str]) -> None:
        columns.update(_column_map(header, COLUMN_ALIASES))
        if "title" not in columns:
            raise InputFormatError(
                f"no title column; the columns are: {', '.join(clean(h) for h in header)}",
                where=f"{src}:1",
                fix="rename the title column to 'title' (or export with a title column)",
            )

    ordinal = 0
    for start, _header, encoding, cells in _rows(path, src, check_header):
        ordinal += 1
        cell = _cell_reader(cells, columns)

        native = cell("record_id")
        pmid = cell("pmid")
        if not native and pmid and database in ("pubmed", "medline"):
            native = pmid
        doi = normalise_doi(cell("doi")) or (normalise_doi(cell("url")) if "doi.org/" in cell("url").lower() else "")
        yield Record(
            record_id=make_record_id(database, native, run_id, ordinal),
            run_id=run_id,
            database=database,
            native_id=native,
            pmid=pmid,
            doi=doi,
            title=clean_text(cell("title")),
            abstract=clean_text(cell("abstract")),
            authors=tuple(_split_authors(cell("authors"))),
            journal=clean_text(cell("journal")),
            journal_abbrev=cell("journal_abbrev"),
            year=find_year(cell("year")),
            volume=cell("volume"),
            issue=cell("issue"),
            pages=cell("pages"),
            publication_types=unique(_split_list(cell("publication_types"))),
            mesh=unique(_split_list(cell("mesh"))),
            keywords=unique(_split_list(cell("keywords"))),
            language=cell("language"),
            registration=tuple(find_registrations(cells)),
            source_file=src,
            source_line=start,
            encoding=encoding,
        )


# A ClinicalTrials.gov id, as the export's "NCT Number" column gives it.
_NCT_RE = re.compile(r"NCT[0-9]{8}")

CTGOV_ALIASES: dict[str, tuple[str, ...]] = {
    "nct": ("nct number",),
    "title": ("study title", "title"),
    "abstract": ("brief summary",),
    "conditions": ("conditions",),
    "interventions": ("interventions",),
    "study_type": ("study type",),
    "study_design": ("study design",),
    "first_posted": ("first posted", "first received"),
    "other_ids": ("other ids",),
    "acronym": ("acronym",),
    "url": ("study url", "url"),
}


def parse_ctgov_csv(
    path: str | os.PathLike[str], *, database: str, run_id: str, source_file: str | None = None
) -> Iterator[Record]:
    """Yield one Record per study of a ClinicalTrials.gov CSV download.

    NCT Number -> native id and registration; Study Title -> title; Brief Summary -> abstract;
    Conditions, Interventions and the CSV's own Study Type / Study Design parts -> keywords;
    year = year of First Posted. Publication types stay empty (the file does not give any).
    A row whose NCT Number is not NCT and 8 digits (empty, cut short, lower case, two ids) is an
    InputFormatError naming file:line.
    """
    src = source_file or str(path)
    columns: dict[str, int] = {}

    def check_header(header: list[str]) -> None:
        columns.update(_column_map(header, CTGOV_ALIASES))
        if any(n not in columns for n in ("nct", "title")):
            raise InputFormatError(
                f"not a ClinicalTrials.gov CSV (needs 'NCT Number' and 'Study Title'); the columns are: {', '.join(clean(h) for h in header)}",
                where=f"{src}:1",
                fix="download the results again from ClinicalTrials.gov as CSV with all columns, or use --format csv",
            )

    ordinal = 0
    for start, _header, encoding, cells in _rows(path, src, check_header):
        ordinal += 1
        cell = _cell_reader(cells, columns)

        nct = cell("nct")
        if not _NCT_RE.fullmatch(nct):
            # it becomes the record_id and the registration that links the record to its publications
            raise InputFormatError(
                f"column 'NCT Number' is {nct!r}, not a ClinicalTrials.gov id (NCT and 8 digits)",
                where=f"{src}:{start}",
                fix="download the export from ClinicalTrials.gov again (a spreadsheet may have changed the cell), or write the "
                "study's id as ClinicalTrials.gov shows it, e.g. NCT00749203, before archiving the file with `livingreview add-run`",
            )
        keywords = _split_list(cell("conditions"), "|") + _split_list(cell("interventions"), "|")
        if cell("study_type"):
            keywords.append(f"Study Type: {cell('study_type')}")
        keywords += _split_list(cell("study_design"), "|")
        registration = unique(([nct] if nct else []) + find_registrations([cell("other_ids"), cell("abstract")]))
        yield Record(
            record_id=make_record_id(database, nct, run_id, ordinal),
            run_id=run_id,
            database=database,
            native_id=nct,
            title=clean_text(cell("title")),
            abstract=clean_text(cell("abstract")),
            year=find_year(cell("first_posted")),
            keywords=unique(keywords),
            registration=registration,
            source_file=src,
            source_line=start,
            encoding=encoding,
        )
