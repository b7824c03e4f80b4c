"""Parser for RIS exports (Ovid, EndNote, Zotero, publishers), including Ovid's untagged continuation lines.

A small line parser rather than rispy: rispy 0.10 joins Ovid's untagged continuation lines
correctly, but it does not report the line where a record starts (records.tsv needs source_line)
and it silently drops a last record that has no ER line (a truncated export), which must fail.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator

from ..constants import LIST_SEP
from ..errors import InputFormatError
from ..records import Record
from .common import clean, clean_text, find_registrations, find_year, first_value, make_record_id, normalise_doi, unique
from .textio import Continued, bounded_lines, open_text

LOG = logging.getLogger(__name__)

# "TY  - JOUR", "ER  -", also the one-space variants some tools write ("TY - JOUR").
TAG_RE = re.compile(r"^([A-Z][A-Z0-9])( {1,2})-(?: (.*))?$")
# Tags of the RIS specification (and Ovid's DB/DI): the only ones taken in the one-space form, where
# wrapped text such as "IV - 0.5 mg/kg" would otherwise look like a tag.
RIS_TAGS: frozenset[str] = frozenset(
    {
        "TY", "ER", "A1", "A2", "A3", "A4", "AB", "AD", "AN", "AU", "AV", "BT", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8",
        "CA", "CN", "CP", "CT", "CY", "DA", "DB", "DI", "DO", "DP", "ED", "EP", "ET", "ID", "IS", "J1", "J2", "JA", "JF", "JO",
        "KW", "L1", "L2", "L3", "L4", "LA", "LB", "LK", "M1", "M2", "M3", "N1", "N2", "NV", "OP", "PB", "PP", "PT", "PY", "RI",
        "RN", "RP", "SE", "SN", "SP", "ST", "T1", "T2", "T3", "TA", "TI", "TT", "U1", "U2", "U3", "U4", "U5", "UR", "VL", "VO",
        "Y1", "Y2",
    }
)
# RIS record type (TY) -> publication type, used only when the record has no M3/PT line: the words are
# those dedup.record_kind reads as a conference abstract (ABSTRACT_TYPES). JOUR is not mapped: the
# default review's archived RIS records without M3 would change (a publication either way in dedup).
RIS_TYPES: dict[str, str] = {
    "ABST": "Abstract",
    "CONF": "Conference Proceeding",
    "CPAPER": "Conference Proceeding",
    "THES": "Thesis",
}
# A tag line with the wrong spacing ("TY   - JOUR", "TY- JOUR"), named in the error for a file with no record.
_SPACING_RE = re.compile(r"^[A-Z][A-Z0-9]( {3,}|)-")
_DOI_IN_URL_RE = re.compile(r"doi\.org/|^doi:", re.IGNORECASE)



def _join_wrapped(pieces: list[str]) -> str:
    """A RIS field's value and its wrapped lines: one space between, an empty first value dropped."""
    return " ".join(p for p in pieces if p)

def _authors(au: list[str], a1: list[str]) -> tuple[str, ...]:
    """AU names, then the A1 names not already given by an AU line (an export may write both tags).

    Each AU occurrence of a name cancels one A1 occurrence, so a name repeated within one tag (two
    people who share it) stays repeated.
    """
    out = [c for c in (clean(a) for a in au) if c]
    given = Counter(out)
    for name in (clean(a) for a in a1):
        if not name:
            continue
        if given[name]:
            given[name] -= 1
        else:
            out.append(name)
    return tuple(out)


def _record(fields: dict[str, list[str]], *, database: str, run_id: str, source_file: str, line: int, ordinal: int, encoding: str) -> Record:
    """Map one RIS record to a Record (authors and pages kept as the source wrote them)."""

    def first(*tags: str) -> str:
        return first_value(fields, *tags)

    def every(*tags: str) -> list[str]:
        return [v for tag in tags for v in fields.get(tag, [])]

    native = first("AN", "ID")
    doi = ""
    for v in every("DO", "DI"):
        doi = normalise_doi(v)
        if doi:
            break
    if not doi:
        for v in every("UR", "L2", "L3"):
            if _DOI_IN_URL_RE.search(v):
                doi = normalise_doi(v)
                if doi:
                    break
    start, end = first("SP"), first("EP")
    pages = f"{start}-{end}" if start and end and "-" not in start else (start or end)
    journal = first("JF", "T2", "JO", "J1")
    abbrev = first("JA", "J2")
    if not abbrev:
        jo = first("JO")
        abbrev = jo if jo and jo != journal else ""
    title = clean_text(first("TI", "T1", "CT", "BT"))
    abstract = clean_text(first("AB", "N2"))
    pmid = native if database in ("pubmed", "medline") and native.isdigit() else ""
    all_text = [v for values in fields.values() for v in values]
    publication_types = unique(part for v in every("PT", "M3") for part in v.split(";"))
    if not publication_types:
        mapped = RIS_TYPES.get(first("TY").upper())
        publication_types = (mapped,) if mapped else ()
    return Record(
        record_id=make_record_id(database, native, run_id, ordinal),
        run_id=run_id,
        database=database,
        native_id=native,
        pmid=pmid,
        doi=doi,
        title=title,
        abstract=abstract,
        authors=_authors(fields.get("AU", []), fields.get("A1", [])),
        journal=clean_text(journal),
        journal_abbrev=abbrev,
        year=find_year(first("PY", "Y1", "DA")),
        volume=first("VL"),
        issue=first("IS", "CP"),
        pages=pages,
        publication_types=publication_types,
        keywords=unique(clean_text(k) for k in every("KW")),
        language=LIST_SEP.join(unique(every("LA"))),
        registration=tuple(find_registrations(all_text)),
        source_file=source_file,
        source_line=line,
        encoding=encoding,
    )


def parse_ris(
    path: str | os.PathLike[str], *, database: str, run_id: str, source_file: str | None = None
) -> Iterator[Record]:
    """Yield one Record per ``TY`` ... ``ER`` block.

    Untagged lines inside a record continue the previous field (joined with a space). A line in the
    one-space form ("XX - text") is a tag only when XX is a RIS tag (RIS_TAGS) and the record's TY
    line is in the one-space form too (or it is an empty "ER -" line); otherwise it is wrapped text
    ("IV - 0.5 mg/kg") and continues the field. Untagged text
    before the first record (a 'Provider:' header) is skipped with a log message. A tag outside a
    record, or a record without its ER line (truncated export), raises InputFormatError with file
    and line. So does a file with no record at all but skipped non-blank lines (not RIS: an Ovid
    'Citation' display export, 'TY   - JOUR' with three spaces): it must not be archived as 0 records.
    A file of blank lines is 0 records.
    """
    src = source_file or str(path)
    stream, encoding = open_text(path, name=src)
    fields: dict[str, list[str]] | None = None
    last_tag = ""
    start = 0
    ordinal = 0
    one_space = False  # the current record's TY line is "TY - ..." (one space before the hyphen)
    first_skipped: tuple[int, str] | None = None  # the first non-blank line skipped before any record
    n_skipped = 0
    continued = Continued(src)  # wrapped text lines of the last field, joined when the next tag line comes
    with stream:
        for lineno, raw in enumerate(bounded_lines(stream, src), start=1):
            line = raw.rstrip("\r\n").lstrip("\ufeff")
            match = TAG_RE.match(line)
            if match and match.group(2) == " ":
                tag = match.group(1)
                if tag not in RIS_TAGS:
                    match = None
                elif fields is not None and not one_space and not (tag == "ER" and not (match.group(3) or "").strip()):
                    match = None  # a two-space record: the line is wrapped text
            if fields is None:
                if not line.strip():
                    continue
                if match and match.group(1) == "TY":
                    fields, last_tag, start = {"TY": [clean(match.group(3))]}, "TY", lineno
                    one_space = match.group(2) == " "
                elif match:
                    raise InputFormatError(
                        f"tag {match.group(1)} outside a record (records start with 'TY  - ')",
                        where=f"{src}:{lineno}",
                        fix="export the file again as RIS; a record's lines must sit between TY and ER",
                    )
                elif ordinal == 0:
                    n_skipped += 1
                    first_skipped = first_skipped or (lineno, line)
                    LOG.info("%s:%d: skipped header line before the first record: %s", src, lineno, line[:60])
                else:
                    raise InputFormatError(
                        f"text outside a record: {line[:60]!r}",
                        where=f"{src}:{lineno}",
                        fix="export the file again as RIS; do not edit it by hand",
                    )
                continue
            if match:
                continued.close(_join_wrapped)
                tag, value = match.group(1), match.group(3) or ""
                if tag == "ER":
                    ordinal += 1
                    yield _record(fields, database=database, run_id=run_id, source_file=src, line=start, ordinal=ordinal, encoding=encoding)
                    fields, last_tag = None, ""
                    continue
                if tag == "TY":
                    raise InputFormatError(
                        f"new record (TY) before the ER line of the record that starts at line {start}",
                        where=f"{src}:{lineno}",
                        fix="the export is damaged; export it again",
                    )
                fields.setdefault(tag, []).append(value)
                last_tag = tag
            elif line.strip():
                continued.add(fields[last_tag], line.strip(), line=lineno, tag=last_tag)
    if fields is not None:
        raise InputFormatError(
            f"record starting at line {start} has no ER line (the file is truncated)",
            where=f"{src}:{start}",
            fix="export the file again; archived exports must be complete",
        )
    if ordinal == 0 and first_skipped:
        first_line, text = first_skipped
        spacing = _SPACING_RE.match(text)
        hint = f" ({len(spacing.group(1))} spaces between the tag and the hyphen)" if spacing else ""
        raise InputFormatError(
            f"no RIS record in the file; {n_skipped} non-blank line{'s' if n_skipped != 1 else ''} before any TY line, the first: {text[:60]!r}{hint} "
            "(a RIS record starts with a line 'TY  - <type>': the tag, two spaces, a hyphen, a space)",
            where=f"{src}:{first_line}",
            fix="export the records in RIS format (in Ovid: Export, format RIS, not a Citation or other display format), or give the file's real --format",
        )
