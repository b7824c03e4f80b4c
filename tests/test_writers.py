"""Writers: PubMed XML, OVID RIS, ClinicalTrials.gov CSV and MEDLINE/nbib read back with ordinary parsers."""

from __future__ import annotations

import csv
import gzip
import io

import pytest
import rispy
from Bio import Entrez, Medline
from lxml import etree

from livingreview.errors import InputFormatError
from livingreview.records import Record
from livingreview.writers import (
    CTGOV_COLUMNS,
    compress_page_range,
    csv_row_lines,
    ctgov_csv,
    gzip_bytes,
    medline_nbib,
    ovid_author,
    ovid_ris,
    pubmed_xml,
    record_start_lines,
    split_author,
    split_page_range,
)

# Facts of real publications (Feder et al. 2014 JAMA Psychiatry; McGhee et al. 2008 J Trauma) and a
# real registration (NCT00749203), as curated in the project's evidence.
FEDER_2014 = Record(
    record_id="pubmed:24740528",
    database="pubmed",
    native_id="24740528",
    pmid="24740528",
    doi="10.1001/jamapsychiatry.2014.62",
    title="Efficacy of Intravenous Ketamine for Treatment of Chronic Posttraumatic Stress Disorder: A Randomized Clinical Trial",
    abstract="Design: proof-of-concept randomized double-blind crossover (n=41). Population: chronic PTSD. "
    "Ketamine route: IV (0.5 mg/kg). Comparator: IV midazolam 0.045 mg/kg.",
    authors=("Feder A", "Parides MK", "Murrough JW", "aan het Rot M", "Lapidus KAB"),
    journal="JAMA Psychiatry",
    journal_abbrev="JAMA Psychiatry",
    year="2014",
    volume="71",
    issue="6",
    pages="681-688",
    publication_types=("Journal Article", "Randomized Controlled Trial"),
    language="eng",
    registration=("NCT00749203",),
    extra={"authors_complete": "N"},
)
MCGHEE_2008 = Record(
    record_id="pubmed:18376165",
    database="pubmed",
    native_id="18376165",
    pmid="18376165",
    doi="10.1097/TA.0b013e318160ba1d",
    title="The correlation between ketamine and posttraumatic stress disorder in burned service members",
    abstract="Design: retrospective chart review (147 operated; 119 ketamine vs 28 none). Population: burned "
    "OIF/OEF service members undergoing surgery & anaesthesia <test>.",
    authors=("McGhee LL", "Maani CV", "Garza TH", "Gaylord KM", "Black IH"),
    journal="Journal of Trauma",
    year="2008",
    volume="64",
    issue="2 Suppl",
    pages="S195-8; discussion S197-8",
    publication_types=("Journal Article",),
    language="eng",
)
REGISTRATION = Record(
    record_id="clinicaltrials:NCT00749203",
    database="clinicaltrials",
    native_id="NCT00749203",
    title="Ketamine as a Rapid Treatment for Post-traumatic Stress Disorder (PTSD)",
    abstract="Design: randomized quadruple-blind crossover (n=41). Population: chronic PTSD (CAPS >= 50), adults.",
    extra={"Enrollment": "41", "Study Type": "INTERVENTIONAL", "Conditions": "chronic PTSD (CAPS >= 50)"},
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Feder A", ("Feder", "A", "")),
        ("Lapidus KAB", ("Lapidus", "KAB", "")),
        ("aan het Rot M", ("aan het Rot", "M", "")),
        ("da Silva ED Jr", ("da Silva", "ED", "Jr")),
        ("Schönenberg M", ("Schönenberg", "M", "")),
        ("PTSD Working Group", ("PTSD Working Group", "", "")),
    ],
)
def test_split_author(name: str, expected: tuple[str, str, str]) -> None:
    assert split_author(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Feder A", "Feder, A."),
        ("Lapidus KAB", "Lapidus, K. A. B."),
        ("aan het Rot M", "aan het Rot, M."),
        ("da Silva ED Jr", "da Silva, E. D., Jr."),
    ],
)
def test_ovid_author(name: str, expected: str) -> None:
    assert ovid_author(name) == expected


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        ("681-688", "681-8"),
        ("1574-1581", "1574-81"),
        ("22-31", "22-31"),
        ("90-101", "90-101"),
        ("S57-S89", "S57-89"),
        ("e30919", "e30919"),
        ("S195-8; discussion S197-8", "S195-8; discussion S197-8"),
        ("2266-2277", "2266-77"),
    ],
)
def test_compress_page_range(pages: str, expected: str) -> None:
    assert compress_page_range(pages) == expected


def test_split_page_range() -> None:
    assert split_page_range("681-688") == ("681", "688")
    assert split_page_range("e30919") == ("e30919", "")


def test_pubmed_xml_parses_with_lxml_and_entrez() -> None:
    data = pubmed_xml([MCGHEE_2008, FEDER_2014])
    text = data.decode("utf-8")
    assert text.startswith('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC')
    assert "pubmed_250101.dtd" in text.splitlines()[1]
    root = etree.fromstring(data)
    arts = root.findall("PubmedArticle")
    assert [a.findtext("MedlineCitation/PMID") for a in arts] == ["18376165", "24740528"]
    feder = arts[1].find("MedlineCitation/Article")
    assert feder.findtext("Journal/JournalIssue/Volume") == "71"
    assert feder.findtext("Journal/JournalIssue/PubDate/Year") == "2014"
    assert feder.findtext("Journal/ISOAbbreviation") == "JAMA Psychiatry"
    assert feder.findtext("Pagination/MedlinePgn") == "681-688"
    assert feder.find("ELocationID").attrib == {"EIdType": "doi", "ValidYN": "Y"}
    assert feder.findtext("Abstract/AbstractText") == FEDER_2014.abstract
    assert feder.find("AuthorList").get("CompleteYN") == "N"
    assert [(a.findtext("LastName"), a.findtext("Initials")) for a in feder.findall("AuthorList/Author")][3] == ("aan het Rot", "M")
    assert [p.text for p in feder.findall("PublicationTypeList/PublicationType")] == ["Journal Article", "Randomized Controlled Trial"]
    assert feder.findtext("DataBankList/DataBank/AccessionNumberList/AccessionNumber") == "NCT00749203"
    ids = {i.get("IdType"): i.text for i in arts[1].findall("PubmedData/ArticleIdList/ArticleId")}
    assert ids == {"pubmed": "24740528", "doi": "10.1001/jamapsychiatry.2014.62"}
    # special characters are escaped and come back intact
    assert arts[0].findtext("MedlineCitation/Article/Abstract/AbstractText").endswith("& anaesthesia <test>.")
    # Biopython reads it with its bundled pubmed_250101.dtd (no network)
    parsed = Entrez.read(io.BytesIO(data))
    assert [str(a["MedlineCitation"]["PMID"]) for a in parsed["PubmedArticle"]] == ["18376165", "24740528"]
    assert record_start_lines(text, marker="<PubmedArticle>") == [
        i for i, line in enumerate(text.splitlines(), 1) if line.strip() == "<PubmedArticle>"
    ]


def test_pubmed_xml_refuses_a_record_without_pmid() -> None:
    with pytest.raises(InputFormatError, match="PMID"):
        pubmed_xml([REGISTRATION])


def test_gzip_bytes_are_reproducible() -> None:
    data = pubmed_xml([FEDER_2014])
    a, b = gzip_bytes(data), gzip_bytes(data)
    assert a == b
    assert a[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert a[3] & 0x08 == 0  # no FNAME flag: no file name stored
    assert gzip.decompress(a) == data


def _unwrap(ris: str) -> str:
    """Join OVID continuation lines to their tagged line (what rispy needs)."""
    out: list[str] = []
    for line in ris.splitlines():
        if line and not (len(line) >= 6 and line[2:6] == "  - "):
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def test_ovid_ris_embase_style() -> None:
    ris = ovid_ris([FEDER_2014, MCGHEE_2008], database="embase", width=60)
    lines = ris.splitlines()
    assert lines[:2] == ["TY  - JOUR", "DB  - Embase"]
    assert "A1  - Lapidus, K. A. B." in lines
    assert "SP  - 681-8" in lines and not any(line.startswith("EP  -") for line in lines)
    assert "Y1  - 2014//" in lines
    assert "DO  - https://dx.doi.org/10.1001/jamapsychiatry.2014.62" in lines
    assert not any(line.startswith("AN  -") for line in lines)
    assert all(len(line) <= 60 for line in lines if not line.startswith(("A1", "DO", "UR")))
    continuation = [line for line in lines if line and line[2:6] != "  - "]
    assert continuation, "long fields are wrapped on untagged lines"
    entries = rispy.loads(_unwrap(ris))
    assert len(entries) == 2
    assert entries[0]["primary_title"] == FEDER_2014.title + "."
    assert entries[0]["notes_abstract"] == FEDER_2014.abstract
    assert entries[0]["first_authors"][:2] == ["Feder, A.", "Parides, M. K."]
    assert entries[0]["alternate_title3"] == "JAMA Psychiatry"  # rispy's name for JF
    assert entries[0]["publication_year"] == "2014//"
    assert entries[0]["doi"] == "https://dx.doi.org/10.1001/jamapsychiatry.2014.62"
    assert entries[1]["start_page"] == "S195-8; discussion S197-8"
    assert record_start_lines(ris, marker="TY  - ") == [1, lines.index("TY  - JOUR", 1) + 1]


def test_ovid_ris_psycinfo_style() -> None:
    ris = ovid_ris([FEDER_2014], database="psycinfo", pages_style="split", year_style="plain")
    lines = ris.splitlines()
    assert "DB  - APA PsycInfo" in lines
    assert "SP  - 681" in lines and "EP  - 688" in lines
    assert "Y1  - 2014" in lines
    entry = rispy.loads(_unwrap(ris))[0]
    assert entry["end_page"] == "688"
    assert entry["publication_year"] == "2014"


def test_ovid_ris_rejects_unknown_database_and_style() -> None:
    with pytest.raises(InputFormatError, match="unknown OVID database"):
        ovid_ris([FEDER_2014], database="scopus")
    with pytest.raises(InputFormatError, match="unknown style"):
        ovid_ris([FEDER_2014], database="embase", pages_style="full")


def test_ctgov_csv_columns_and_cells() -> None:
    text = ctgov_csv([REGISTRATION])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0].keys()) == CTGOV_COLUMNS
    row = rows[0]
    assert row["NCT Number"] == "NCT00749203"
    assert row["Study URL"] == "https://clinicaltrials.gov/study/NCT00749203"
    assert row["Brief Summary"] == REGISTRATION.abstract
    assert row["Enrollment"] == "41"
    assert row["Sponsor"] == "" and row["Start Date"] == ""
    assert csv_row_lines(text) == [2]


def test_ctgov_csv_refuses_a_record_without_nct() -> None:
    with pytest.raises(InputFormatError, match="no NCT id"):
        ctgov_csv([MCGHEE_2008])


def test_medline_nbib_reads_back_with_biopython() -> None:
    text = medline_nbib([FEDER_2014, MCGHEE_2008])
    assert all(len(line) <= 88 for line in text.splitlines())
    parsed = list(Medline.parse(io.StringIO(text)))
    assert [p["PMID"] for p in parsed] == ["24740528", "18376165"]
    assert parsed[0]["AB"] == FEDER_2014.abstract
    assert parsed[0]["AU"] == list(FEDER_2014.authors)
    assert parsed[0]["PG"] == "681-688"
    assert parsed[0]["LID"] == "10.1001/jamapsychiatry.2014.62 [doi]"
    assert parsed[0]["SI"] == ["ClinicalTrials.gov/NCT00749203"]
    assert parsed[1]["PT"] == ["Journal Article"]
    assert parsed[1]["JT"] == "Journal of Trauma"
