"""Writers -> parsers round trip: what livingreview.writers exports, the parsers read back field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from livingreview.parsers import detect_format, read_records
from livingreview.records import Record
from livingreview.writers import gzip_bytes, medline_nbib, ovid_author, ovid_ris, pubmed_xml, record_start_lines

RUN = "2025-09-30"
# Facts of two real publications as curated in the project's evidence (Feder et al. 2014, JAMA
# Psychiatry; Abdallah et al. 2022, Neuropsychopharmacology); abstracts are our placeholder text.
FEDER = Record(
    pmid="24740528",
    doi="10.1001/jamapsychiatry.2014.62",
    title="Efficacy of Intravenous Ketamine for Treatment of Chronic Posttraumatic Stress Disorder: A Randomized Clinical Trial",
    abstract="Placeholder text for the round-trip test, long enough to be wrapped onto continuation lines by every writer "
    "that wraps: RIS at its width and MEDLINE at 88 characters, with an ampersand & and a less-than sign < kept.",
    authors=("Feder A", "Parides MK", "Murrough JW", "aan het Rot M"),
    journal="JAMA Psychiatry",
    journal_abbrev="JAMA Psychiatry",
    year="2014",
    volume="71",
    issue="6",
    pages="681-688",
    publication_types=("Journal Article", "Randomized Controlled Trial"),
    language="eng",
    registration=("NCT00749203",),
)
ABDALLAH = Record(
    pmid="35046508",
    doi="10.1038/s41386-022-01266-9",
    title="Dose-related effects of ketamine for antidepressant-resistant symptoms of posttraumatic stress disorder in "
    "veterans and active duty military: a double-blind, randomized, placebo-controlled multi-center clinical trial",
    authors=("Abdallah CG", "Roache JD", "D'Souza D"),
    journal="Neuropsychopharmacology",
    journal_abbrev="Neuropsychopharmacology",
    year="2022",
    volume="47",
    issue="8",
    pages="1574-1581",
    publication_types=("Journal Article", "Randomized Controlled Trial", "Multicenter Study"),
    language="eng",
    registration=("NCT02655692",),
)
SOURCES = [FEDER, ABDALLAH]


def _read(path: Path, database: str) -> list[Record]:
    return list(read_records(path, database=database, run_id=RUN, source_file=path.name))


@pytest.mark.parametrize("compressed", [False, True])
def test_pubmed_xml_round_trip(tmp_path: Path, compressed: bool) -> None:
    data = pubmed_xml(SOURCES)
    path = tmp_path / ("pubmed.xml.gz" if compressed else "pubmed.xml")
    path.write_bytes(gzip_bytes(data) if compressed else data)
    assert detect_format(path) == "pubmed_xml"
    got = _read(path, "pubmed")
    assert [r.record_id for r in got] == ["pubmed:24740528", "pubmed:35046508"]
    assert [r.source_line for r in got] == record_start_lines(data.decode("utf-8"), marker="<PubmedArticle>")
    for src, rec in zip(SOURCES, got):
        for name in ("pmid", "doi", "title", "abstract", "authors", "journal", "journal_abbrev", "year", "volume", "issue", "pages",
                     "publication_types", "language", "registration"):
            assert getattr(rec, name) == getattr(src, name), name


def test_medline_round_trip(tmp_path: Path) -> None:
    text = medline_nbib(SOURCES)
    path = tmp_path / "pubmed.nbib"
    path.write_text(text, encoding="utf-8")
    assert detect_format(path) == "medline"
    got = _read(path, "pubmed")
    assert [r.source_line for r in got] == record_start_lines(text, marker="PMID- ")
    for src, rec in zip(SOURCES, got):
        for name in ("pmid", "doi", "title", "abstract", "authors", "journal", "journal_abbrev", "year", "volume", "issue", "pages",
                     "publication_types", "language", "registration"):
            assert getattr(rec, name) == getattr(src, name), name


@pytest.mark.parametrize(("pages_style", "pages"), [("compressed", ["681-8", "1574-81"]), ("split", ["681-688", "1574-1581"])])
def test_ovid_ris_round_trip(tmp_path: Path, pages_style: str, pages: list[str]) -> None:
    text = ovid_ris(SOURCES, database="embase", pages_style=pages_style)
    path = tmp_path / "embase.ris"
    path.write_text(text, encoding="utf-8")
    assert detect_format(path) == "ris"
    got = _read(path, "embase")
    assert [r.record_id for r in got] == [f"embase:{RUN}#1", f"embase:{RUN}#2"]  # OVID RIS has no accession numbers here
    assert [r.source_line for r in got] == record_start_lines(text, marker="TY  - ")
    assert [r.pages for r in got] == pages  # kept as the export gives them
    for src, rec in zip(SOURCES, got):
        assert rec.title == src.title + "."  # OVID adds a full stop
        assert rec.abstract == src.abstract
        assert rec.authors == tuple(ovid_author(a) for a in src.authors)  # "Feder, A." kept as given
        assert (rec.doi, rec.journal, rec.journal_abbrev, rec.year, rec.volume, rec.issue) == (
            src.doi, src.journal, src.journal_abbrev, src.year, src.volume, src.issue
        )
        assert rec.publication_types == src.publication_types
