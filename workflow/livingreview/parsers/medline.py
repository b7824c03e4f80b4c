"""Parser for the MEDLINE tagged format (PubMed 'Save: PubMed format', .nbib/.txt): ``TAG - value`` lines."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from ..constants import LIST_SEP
from ..errors import InputFormatError
from ..records import Record
from .common import clean, clean_text, find_registrations, find_year, first_value, make_record_id, normalise_doi, unique
from .textio import Continued, bounded_lines, open_text

# "PMID- 123", "TI  - Title", "AU  - Feder A"; the tag is left-justified in four columns.
TAG_RE = re.compile(r"^([A-Z][A-Z0-9]{1,3}) *- ?(.*)$")
CONTINUATION_RE = re.compile(r"^\s+\S")
_ID_SUFFIX_RE = re.compile(r"^(.*?)\s*\[(\w+)\]\s*$")


def _ids(values: list[str], kind: str) -> list[str]:
    """Values of LID/AID lines whose bracketed type is ``kind`` ("10.1/x [doi]" -> "10.1/x")."""
    out = []
    for v in values:
        m = _ID_SUFFIX_RE.match(v)
        if m and m.group(2).lower() == kind:
            out.append(m.group(1))
    return out


def _mesh_descriptor(value: str) -> str:
    """"Ketamine/*therapeutic use" -> "Ketamine"; "*Stress Disorders, Post-Traumatic" -> without the star."""
    return value.split("/", 1)[0].lstrip("*").strip()


def _record(fields: dict[str, list[str]], *, database: str, run_id: str, source_file: str, line: int, ordinal: int, encoding: str) -> Record:
    """Map one tagged record to a Record."""

    def first(*tags: str) -> str:
        return first_value(fields, *tags)

    pmid = first("PMID")
    dois = [normalise_doi(v) for v in _ids(fields.get("LID", []) + fields.get("AID", []), "doi")]
    title = clean_text(first("TI", "BTI"))
    abstract = clean_text(first("AB"))
    secondary = [v.split("/", 1)[1] if "/" in v else v for v in fields.get("SI", [])]
    registration = unique(find_registrations(secondary) + find_registrations([title, abstract]))
    # AU ("Feder A"); the full names (FAU, "Feder, Adriana") only when an export has no AU lines.
    authors = [clean(v) for v in fields.get("AU") or fields.get("FAU", [])] + [clean(v) for v in fields.get("CN", [])]
    return Record(
        record_id=make_record_id(database, pmid, run_id, ordinal),
        run_id=run_id,
        database=database,
        native_id=pmid,
        pmid=pmid,
        doi=next((d for d in dois if d), ""),
        title=title,
        abstract=abstract,
        authors=tuple(a for a in authors if a),
        journal=clean_text(first("JT")),
        journal_abbrev=first("TA"),
        year=find_year(first("DP")),
        volume=first("VI"),
        issue=first("IP"),
        pages=first("PG"),
        publication_types=unique(fields.get("PT", [])),
        mesh=unique(_mesh_descriptor(v) for v in fields.get("MH", [])),
        keywords=unique(fields.get("OT", [])),
        language=LIST_SEP.join(unique(fields.get("LA", []))),
        registration=registration,
        source_file=source_file,
        source_line=line,
        encoding=encoding,
    )


def parse_medline(
    path: str | os.PathLike[str], *, database: str, run_id: str, source_file: str | None = None
) -> Iterator[Record]:
    """Yield one Record per MEDLINE-format record (records separated by blank lines or a new PMID line).

    Continuation lines (indented) extend the previous field. A non-blank line that is neither a tag
    line nor a continuation raises InputFormatError with file and line. So does a last record
    without a title (TI, or BTI for a book): every PubMed record has one, so the file was cut off
    inside that record (a file cut after the title cannot be told from a complete one; add-run's
    --count-reported check warns then).
    """
    src = source_file or str(path)
    stream, encoding = open_text(path, name=src)
    fields: dict[str, list[str]] = {}
    last_tag = ""
    start = 0
    ordinal = 0
    continued = Continued(src)  # indented lines of the last field, joined when the field ends
    with stream:
        for lineno, raw in enumerate(bounded_lines(stream, src), start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continued.close(" ".join)
                if fields:
                    ordinal += 1
                    yield _record(fields, database=database, run_id=run_id, source_file=src, line=start, ordinal=ordinal, encoding=encoding)
                    fields, last_tag = {}, ""
                continue
            match = TAG_RE.match(line) if not line[0].isspace() else None
            if match:
                continued.close(" ".join)
                tag, value = match.group(1), match.group(2)
                if tag == "PMID" and "PMID" in fields:
                    ordinal += 1
                    yield _record(fields, database=database, run_id=run_id, source_file=src, line=start, ordinal=ordinal, encoding=encoding)
                    fields = {}
                if not fields:
                    start = lineno
                fields.setdefault(tag, []).append(value)
                last_tag = tag
            elif CONTINUATION_RE.match(line) and last_tag:
                continued.add(fields[last_tag], line.strip(), line=lineno, tag=last_tag)
            else:
                raise InputFormatError(
                    f"line is neither a 'TAG - value' line nor an indented continuation: {line[:60]!r}",
                    where=f"{src}:{lineno}",
                    fix="export the records again in PubMed (MEDLINE) format; do not edit the file by hand",
                )
    continued.close(" ".join)
    if fields:
        if not first_value(fields, "TI", "BTI"):
            pmid = first_value(fields, "PMID")
            raise InputFormatError(
                f"the last record ({f'PMID {pmid}' if pmid else 'no PMID'}) has no title (TI), so the file looks cut off inside it",
                where=f"{src}:{start}",
                fix="export or download the records again (PubMed: Save, format PubMed) and check the file is complete",
            )
        ordinal += 1
        yield _record(fields, database=database, run_id=run_id, source_file=src, line=start, ordinal=ordinal, encoding=encoding)
