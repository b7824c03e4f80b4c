"""Parsers for every export format a run may hold: detect the format, then yield typed Records."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import InputFormatError
from ..records import Record
from .csvfmt import CTGOV_REQUIRED, parse_csv, parse_ctgov_csv
from .medline import parse_medline
from .pubmed_xml import parse_pubmed_xml
from .ris import parse_ris
from .textio import read_head

FORMATS: tuple[str, ...] = ("pubmed_xml", "medline", "ris", "csv", "ctgov_csv")
PARSERS: dict[str, Callable[..., Iterator[Record]]] = {
    "pubmed_xml": parse_pubmed_xml,
    "medline": parse_medline,
    "ris": parse_ris,
    "csv": parse_csv,
    "ctgov_csv": parse_ctgov_csv,
}
_RIS_RE = re.compile(r"^TY {1,2}- ", re.MULTILINE)
_MEDLINE_RE = re.compile(r"^PMID- ?\d", re.MULTILINE)

__all__ = ["FORMATS", "PARSERS", "detect_format", "read_records"]


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the export format of a file from its content (gzip allowed): one of FORMATS.

    PubMed XML (root PubmedArticleSet), RIS (a 'TY  - ' line), MEDLINE/nbib (a 'PMID- ' line),
    ClinicalTrials.gov CSV (an 'NCT Number' column) or a generic CSV (a delimited header line; the
    CSV parser then requires a title column). Anything else raises
    InputFormatError naming the file.
    """
    head = read_head(path)
    stripped = head.lstrip()
    if stripped.startswith("<"):
        if "<PubmedArticleSet" in head or "<PubmedBookArticleSet" in head or "<!DOCTYPE PubmedArticleSet" in head:
            return "pubmed_xml"
        raise InputFormatError(
            "XML file that is not PubMed XML (no PubmedArticleSet element near the start)",
            where=str(path),
            fix="export PubMed results with efetch rettype=xml or 'Save: XML'; other XML is not supported",
        )
    first_line = stripped.splitlines()[0] if stripped else ""
    lowered = first_line.lower()
    # The first line decides when it can (a CSV cell may hold text that looks like a tag line) ...
    if _RIS_RE.match(first_line):
        return "ris"
    if _MEDLINE_RE.match(first_line):
        return "medline"
    if CTGOV_REQUIRED in lowered:
        return "ctgov_csv"
    if any(d in first_line for d in ",;\t|"):
        return "csv"  # the CSV parser names the columns when there is no title column
    # ... otherwise a header line ("Provider: ...") may precede the first RIS or MEDLINE record.
    if _RIS_RE.search(head):
        return "ris"
    if _MEDLINE_RE.search(head):
        return "medline"
    raise InputFormatError(
        f"cannot tell the format (first line: {first_line[:60]!r})",
        where=str(path),
        fix=f"give --format (one of {', '.join(FORMATS)}) or export as PubMed XML, MEDLINE, RIS or CSV with a title column",
    )


def read_records(
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    database: str,
    run_id: str,
    source_file: str | None = None,
) -> Iterator[Record]:
    """Yield the Records of one export file, in file order.

    ``fmt`` defaults to detect_format(path). ``source_file`` is what records.tsv names as the file
    (relative to the project root); it defaults to ``path``. Records without an id in the export get
    ``<database>:<run_id>#<ordinal>``.
    """
    name = fmt or detect_format(path)
    if name not in PARSERS:
        raise InputFormatError(f"unknown format {name!r}", where=str(path), fix=f"use one of {', '.join(FORMATS)}")
    src = source_file if source_file is not None else Path(path).as_posix()
    return PARSERS[name](path, database=database, run_id=run_id, source_file=src)
