"""Parsers on ugly real-world exports: PubMed XML (plain/gzip), MEDLINE/nbib, OVID RIS, CSV, ClinicalTrials.gov CSV."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from livingreview.errors import InputFormatError
from livingreview.parsers import detect_format, read_records
from livingreview.normalize import normalize_doi
from livingreview.parsers.common import clean_text, find_year, normalise_doi
from livingreview.parsers.textio import detect_encoding
from livingreview.records import Record

DATA = Path(__file__).parent / "data" / "parsers"
RUN = "2025-09-30"


def parse(name: str, database: str = "pubmed", **kw: object) -> list[Record]:
    """All records of a fixture, with source_file as the fixture name."""
    return list(read_records(DATA / name, database=database, run_id=RUN, source_file=name, **kw))


def by_id(records: list[Record]) -> dict[str, Record]:
    return {r.record_id: r for r in records}


# --- format detection -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("pubmed_ugly.xml", "pubmed_xml"),
        ("pubmed_ugly.xml.gz", "pubmed_xml"),
        ("pubmed.nbib", "medline"),
        ("embase_ovid.ris", "ris"),
        ("medline_ovid_cp1252.ris", "ris"),
        ("asysd.csv", "csv"),
        ("covidence_cp1252.csv", "csv"),
        ("ctgov.csv", "ctgov_csv"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(DATA / name) == fmt


def test_detect_format_csv_with_tag_like_cell(tmp_path: Path) -> None:
    p = tmp_path / "tricky.csv"
    p.write_text('title,abstract\nSynthetic,"first line\nPMID- 123 looks like a tag\nTY  - so does this"\n', encoding="utf-8")
    assert detect_format(p) == "csv"
    (rec,) = list(read_records(p, database="other", run_id=RUN))
    assert rec.abstract == "first line PMID- 123 looks like a tag TY - so does this"


def test_detect_format_unknown_names_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("just some words\nno structure\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"notes\.txt.*cannot tell the format"):
        detect_format(p)


def test_detect_format_other_xml(tmp_path: Path) -> None:
    p = tmp_path / "other.xml"
    p.write_text("<?xml version='1.0'?><records><record/></records>", encoding="utf-8")
    with pytest.raises(InputFormatError, match="not PubMed XML"):
        detect_format(p)


# --- helpers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "doi"),
    [
        ("https://doi.org/10.1001/JAMAPSYCHIATRY.2014.62", "10.1001/jamapsychiatry.2014.62"),
        ("http://dx.doi.org/10.1177/2470547020981670", "10.1177/2470547020981670"),
        ("doi: 10.1038/s41386-022-01266-9.", "10.1038/s41386-022-01266-9"),
        ("  10.1097/TA.0b013e318160ba1d ", "10.1097/ta.0b013e318160ba1d"),
        ("not a doi", ""),
        ("", ""),
        ("(doi: 10.1000/xyz123).", "10.1000/xyz123"),
        ("https://www.doi.org/10.1000/XYZ123", "10.1000/xyz123"),
        ("10.1016/0006-3223(96)00137-2", "10.1016/0006-3223(96)00137-2"),
        ("10.1000/abc(1)", "10.1000/abc(1)"),
        ("[10.1000/abc]", "10.1000/abc"),
    ],
)
def test_normalise_doi(raw: str, doi: str) -> None:
    assert normalise_doi(raw) == doi
    # Parsers store DOIs in the form record linkage compares them in: one normaliser serves both.
    assert normalize_doi(raw) == doi


@pytest.mark.parametrize(("raw", "year"), [("2013 Dec-2014 Jan", "2013"), ("2014//", "2014"), ("Spring 2008", "2008"), ("n.d.", "")])
def test_find_year(raw: str, year: str) -> None:
    assert find_year(raw) == year


def test_clean_text_entities_and_markup() -> None:
    assert clean_text("A &amp; B &lt;i&gt;in vivo&lt;/i&gt;\n H<sub>2</sub>O") == "A & B in vivo H2O"
    assert clean_text("dose < 0.5 mg/kg & more") == "dose < 0.5 mg/kg & more"


# --- PubMed XML ---------------------------------------------------------------------------------
def test_pubmed_xml_fields() -> None:
    recs = by_id(parse("pubmed_ugly.xml"))
    assert list(recs) == ["pubmed:24740528", "pubmed:18376165", "pubmed:35046508", f"pubmed:{RUN}#4"]
    feder = recs["pubmed:24740528"]
    assert feder.pmid == feder.native_id == "24740528"
    assert feder.doi == "10.1001/jamapsychiatry.2014.62"  # from ELocationID; the cited reference's DOI is ignored
    assert feder.title.startswith("Efficacy of intravenous ketamine")
    assert feder.abstract == (
        "IMPORTANCE: Fixture text written for the parser tests, with inline markup. "
        "DESIGN, SETTING, AND PARTICIPANTS: Fixture text: crossover & midazolam <control>. Unlabelled fixture sentence."
    )
    assert feder.authors == ("Feder A", "Parides MK", "aan het Rot M")
    assert (feder.journal, feder.journal_abbrev, feder.year, feder.volume, feder.issue, feder.pages) == (
        "JAMA psychiatry", "JAMA Psychiatry", "2014", "71", "6", "681-8"
    )
    assert feder.publication_types == ("Journal Article", "Randomized Controlled Trial")
    assert feder.mesh == ("Ketamine", "Stress Disorders, Post-Traumatic")
    assert feder.registration == ("NCT00749203",)
    assert feder.language == "eng"
    assert (feder.source_file, feder.source_line, feder.encoding) == ("pubmed_ugly.xml", 4, "utf-8")

    mcghee = recs["pubmed:18376165"]
    assert mcghee.doi == "10.1097/ta.0b013e318160ba1d"  # from ArticleIdList, lower-cased
    assert mcghee.pages == "S195-8; discussion S197-8"
    assert mcghee.issue == "2 Suppl"
    assert mcghee.journal_abbrev == "J Trauma"  # MedlineTA when ISOAbbreviation is missing
    assert mcghee.abstract == ""

    abdallah = recs["pubmed:35046508"]
    assert abdallah.year == "2022"  # MedlineDate
    assert abdallah.registration == ("NCT02655692",)  # NCT id found in the abstract text
    assert abdallah.authors == ("Abdallah CG", "D'Souza D")

    synthetic = recs[f"pubmed:{RUN}#4"]
    assert synthetic.native_id == "" and synthetic.pmid == ""
    assert synthetic.title == "Synthetic record: in vivo markup, H2O & an escaped tag"
    assert synthetic.authors == ("Synthetic Test Group", "Ünal-Çelik Ş")
    assert synthetic.year == "2013"
    assert synthetic.keywords == ("synthetic keyword",)
    assert synthetic.language == "eng; ger"


def test_pubmed_xml_gzip_equals_plain() -> None:
    plain = [r.to_row() | {"source_file": ""} for r in parse("pubmed_ugly.xml")]
    gz = [r.to_row() | {"source_file": ""} for r in parse("pubmed_ugly.xml.gz")]
    assert plain == gz and len(plain) == 4


def test_pubmed_xml_truncated_names_file_and_line(tmp_path: Path) -> None:
    data = (DATA / "pubmed_ugly.xml").read_bytes()
    cut = data[: data.index(b"<PMID Version=\"1\">18376165") + 10]
    p = tmp_path / "cut.xml"
    p.write_bytes(cut)
    with pytest.raises(InputFormatError, match=r"cut\.xml:\d+: malformed or truncated PubMed XML"):
        list(read_records(p, database="pubmed", run_id=RUN))


def test_pubmed_xml_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress((DATA / "pubmed_ugly.xml").read_bytes())
    p = tmp_path / "cut.xml.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFormatError, match=r"cut\.xml\.gz"):
        list(read_records(p, fmt="pubmed_xml", database="pubmed", run_id=RUN))


def test_pubmed_xml_malformed_tag(tmp_path: Path) -> None:
    p = tmp_path / "bad.xml"
    p.write_text(
        "<?xml version='1.0'?>\n<PubmedArticleSet>\n<PubmedArticle><MedlineCitation><PMID>1</PMID>\n"
        "<Article><ArticleTitle>x</Title></Article></MedlineCitation></PubmedArticle>\n</PubmedArticleSet>\n",
        encoding="utf-8",
    )
    with pytest.raises(InputFormatError, match=r"bad\.xml:4:"):
        list(read_records(p, database="pubmed", run_id=RUN))


BOMB = """<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
 <!ENTITY xxe SYSTEM "file://{secret}">
]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
<ArticleTitle>Synthetic A &lol9; B &xxe; C</ArticleTitle>
<Abstract><AbstractText>&xxe;</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>
"""


def _bomb(tmp_path: Path, levels: int) -> Path:
    """A DOCTYPE with an internal entity bomb of ``levels`` levels and an external entity to a local file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    lines = BOMB.replace("{secret}", str(secret)).splitlines()
    keep = [ln for ln in lines if not any(f"ENTITY lol{i} " in ln for i in range(levels + 1, 10))]
    text = "\n".join(keep).replace("&lol9;", f"&lol{levels};" if levels > 1 else "&lol;")
    p = tmp_path / f"bomb{levels}.xml"
    p.write_text(text, encoding="utf-8")
    return p


def test_pubmed_xml_entities_never_expanded(tmp_path: Path) -> None:
    # Neither the internal entities nor the external entity (a local file) is expanded; the record is
    # refused, naming the first reference, rather than read as "Synthetic A B C" with its text lost.
    p = _bomb(tmp_path, 3)
    assert detect_format(p) == "pubmed_xml"
    with pytest.raises(InputFormatError) as err:
        list(read_records(p, database="pubmed", run_id=RUN, source_file="bomb3.xml"))
    message = str(err.value)
    assert message.startswith("bomb3.xml:9: record 1 (PMID 1) holds the entity reference &lol3; in <ArticleTitle>, which is never expanded")
    assert "TOP-SECRET" not in message and len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("doctype", "text", "entity"),
    [
        # PubMed's own DOCTYPE names an external DTD, so libxml2 only warns about an entity it does not
        # know: "Caf&eacute;" (an HTML entity written by a converting tool or a hand edit) was read as
        # "Caf", the word lost without a message
        ('<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
         '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">', "Caf&eacute; trial", "&eacute;"),
        # an entity the file declares itself: its text was dropped ("Synthetic  trial")
        ('<!DOCTYPE PubmedArticleSet [<!ENTITY drug "ketamine">]>', "&drug; trial", "&drug;"),
    ],
)
def test_pubmed_xml_record_with_an_entity_reference_is_refused_not_read_without_its_text(
    tmp_path: Path, doctype: str, text: str, entity: str
) -> None:
    p = tmp_path / "x.xml"
    p.write_text(
        f'<?xml version="1.0"?>\n{doctype}\n<PubmedArticleSet>\n{_ARTICLE.format(7, "ok")}\n'
        f'{_ARTICLE.format(8, text)}\n</PubmedArticleSet>\n',
        encoding="utf-8",
    )
    with pytest.raises(InputFormatError) as err:
        list(read_records(p, database="pubmed", run_id=RUN, source_file="x.xml"))
    assert str(err.value) == (
        f"x.xml:5: record 2 (PMID 8) holds the entity reference {entity} in <ArticleTitle>, which is never expanded (no DTD is "
        "read): its text would be lost; fix: export the records again from PubMed (efetch rettype=xml or 'Save: XML'), which "
        "writes text as UTF-8; do not edit the file by hand or convert it with a tool that writes HTML entities"
    )
    # the five predefined entities and character references are expanded by the parser, as PubMed writes them
    p.write_text(
        f'<?xml version="1.0"?>\n{doctype}\n<PubmedArticleSet>\n{_ARTICLE.format(8, "Caf&#233; &amp; &lt; 3 trial")}\n</PubmedArticleSet>\n',
        encoding="utf-8",
    )
    (rec,) = list(read_records(p, database="pubmed", run_id=RUN, source_file="x.xml"))
    assert rec.title == "Synthetic Café & < 3 trial"


def test_pubmed_xml_billion_laughs_refused(tmp_path: Path) -> None:
    # libxml2 counts the would-be amplification even when entities are not substituted and refuses the
    # file: a one-line error naming it, at once, with no memory blow-up.
    p = _bomb(tmp_path, 9)
    with pytest.raises(InputFormatError, match=r"bomb9\.xml:\d+: malformed or truncated PubMed XML \(Maximum entity amplification"):
        list(read_records(p, database="pubmed", run_id=RUN))


def test_pubmed_xml_nested_markup_keeps_text_order(tmp_path: Path) -> None:
    p = tmp_path / "nested.xml"
    p.write_text(
        "<?xml version='1.0'?>\n<PubmedArticleSet><PubmedArticle><MedlineCitation><Article>"
        "<ArticleTitle>Synthetic a <i>b <b>c</b> d</i> e<!-- note --> f</ArticleTitle>"
        "</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>\n",
        encoding="utf-8",
    )
    (rec,) = list(read_records(p, database="pubmed", run_id=RUN))
    assert rec.title == "Synthetic a b c d e f"


def test_pubmed_xml_empty_set_is_zero_records(tmp_path: Path) -> None:
    p = tmp_path / "empty.xml"
    p.write_text('<?xml version="1.0"?>\n<PubmedArticleSet>\n</PubmedArticleSet>\n', encoding="utf-8")
    assert list(read_records(p, fmt="pubmed_xml", database="pubmed", run_id=RUN)) == []


def test_pubmed_book_article(tmp_path: Path) -> None:
    p = tmp_path / "book.xml"
    p.write_text(
        "<?xml version='1.0'?>\n<PubmedArticleSet>\n<PubmedBookArticle>\n<BookDocument>\n"
        "<Book><BookTitle>Synthetic Book of Tests</BookTitle><PubDate><Year>2020</Year></PubDate></Book>\n"
        "<ArticleTitle>Synthetic chapter</ArticleTitle>\n"
        "<AuthorList><Author><LastName>Synthetic</LastName><Initials>AB</Initials></Author></AuthorList>\n"
        "<Abstract><AbstractText Label='SUMMARY'>Synthetic text.</AbstractText></Abstract>\n"
        "</BookDocument>\n</PubmedBookArticle>\n</PubmedArticleSet>\n",
        encoding="utf-8",
    )
    (rec,) = list(read_records(p, database="pubmed", run_id=RUN))
    assert (rec.record_id, rec.title, rec.journal, rec.year, rec.authors, rec.abstract, rec.source_line) == (
        f"pubmed:{RUN}#1", "Synthetic chapter", "Synthetic Book of Tests", "2020", ("Synthetic AB",), "SUMMARY: Synthetic text.", 3
    )


def test_pubmed_xml_wrong_root(tmp_path: Path) -> None:
    p = tmp_path / "wrong.xml"
    p.write_text("<?xml version='1.0'?>\n<eSearchResult><Count>0</Count></eSearchResult>\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="not PubmedArticleSet"):
        list(read_records(p, fmt="pubmed_xml", database="pubmed", run_id=RUN))


# --- MEDLINE / nbib -----------------------------------------------------------------------------
def test_medline_nbib_fields() -> None:
    recs = parse("pubmed.nbib")
    assert [r.record_id for r in recs] == ["pubmed:35046508", "pubmed:24740528", "pubmed:18208917"]
    assert [r.source_line for r in recs] == [1, 32, 48]  # the third record follows without a blank line
    a = recs[0]
    assert a.title == (
        "Dose-related effects of ketamine for antidepressant-resistant symptoms of posttraumatic stress disorder "
        "in veterans and active duty military: a double-blind, randomized, placebo-controlled multi-center clinical trial."
    )
    assert a.abstract == "Fixture text written for the parser tests, on two lines & with an entity."
    assert a.doi == "10.1038/s41386-022-01266-9"
    assert a.authors == ("Abdallah CG", "Roache JD", "D'Souza D")
    assert a.journal == "Neuropsychopharmacology : official publication of the American College of Neuropsychopharmacology"
    assert (a.journal_abbrev, a.year, a.volume, a.issue, a.pages) == ("Neuropsychopharmacology", "2022", "47", "8", "1574-1581")
    assert a.mesh == ("Humans", "Ketamine", "Stress Disorders, Post-Traumatic")
    assert a.publication_types == ("Journal Article", "Randomized Controlled Trial", "Multicenter Study")
    assert a.registration == ("NCT02655692",)
    assert recs[1].keywords == ("ketamine", "PTSD")
    assert recs[2].doi == "" and recs[2].authors == ("Schönenberg M",) and recs[2].pages == "493-7"


def test_medline_full_author_names_when_no_au(tmp_path: Path) -> None:
    p = tmp_path / "fau.nbib"
    p.write_text("PMID- 24740528\nTI  - A title\nFAU - Feder, Adriana\nFAU - Parides, Michael K\n", encoding="utf-8")
    (rec,) = list(read_records(p, database="pubmed", run_id=RUN))
    assert rec.authors == ("Feder, Adriana", "Parides, Michael K")


def test_medline_garbage_line_names_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.nbib"
    p.write_text("PMID- 24740528\nTI  - A title\nthis line has no tag\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"bad\.nbib:3: line is neither"):
        list(read_records(p, database="pubmed", run_id=RUN))


# --- RIS ---------------------------------------------------------------------------------------
def test_ovid_ris_bom_crlf_continuations() -> None:
    recs = parse("embase_ovid.ris", "embase")
    assert [r.record_id for r in recs] == [f"embase:{RUN}#1", f"embase:{RUN}#2", f"embase:{RUN}#3"]
    assert [r.source_line for r in recs] == [1, 23, 37]
    assert {r.encoding for r in recs} == {"utf-8-sig"}
    feder, schon, pradhan = recs
    assert feder.title == "Efficacy of intravenous ketamine for treatment of chronic posttraumatic stress disorder: A randomized clinical trial."
    assert feder.abstract.endswith("as OVID writes long fields, & has an entity and inline markup.")
    assert feder.doi == "10.1001/jamapsychiatry.2014.62"  # DOI given as a URL, upper case
    assert feder.pages == "681-8"  # kept as given
    assert feder.authors == ("Feder, A.", "Parides, M. K.", "aan het Rot, M.")  # kept as given
    assert feder.year == "2014" and feder.native_id == ""
    assert feder.publication_types == ("Article", "Randomized Controlled Trial")
    assert schon.authors[0] == "Schönenberg, M." and schon.doi == "" and schon.pages == "493-497"
    assert pradhan.title.startswith("Nonconventional interventions") and pradhan.title.endswith("alternative approaches.")
    assert pradhan.journal == "Journal of Trauma & Dissociation"


def test_ris_cp1252_and_accession_numbers() -> None:
    recs = parse("medline_ovid_cp1252.ris", "medline")
    assert [r.record_id for r in recs] == ["medline:35873243", "medline:33426410"]
    assert {r.encoding for r in recs} == {"cp1252"}
    assert recs[0].authors[0] == "Rothärmel, M."
    assert recs[0].abstract == "Fixture text: the authors’ pilot study, café."
    assert recs[0].pmid == "35873243"  # Ovid MEDLINE accession number is the PMID
    assert recs[1].doi == "10.1177/2470547020981670"  # from a doi.org URL in UR
    assert recs[1].registration == ("NCT04322968",)
    assert [r.source_line for r in recs] == [1, 13]  # no blank line between records


def test_ris_truncated_names_record_start() -> None:
    with pytest.raises(InputFormatError, match=r"truncated\.ris:37: record starting at line 37 has no ER line"):
        list(read_records(DATA / "truncated.ris", database="embase", run_id=RUN, source_file="truncated.ris"))


def test_ris_tag_outside_record(tmp_path: Path) -> None:
    p = tmp_path / "x.ris"
    p.write_text("TY  - JOUR\nTI  - A\nER  - \nAU  - Stray, A.\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"x\.ris:4: tag AU outside a record"):
        list(read_records(p, database="embase", run_id=RUN))


def test_same_author_name_twice_is_kept(tmp_path: Path) -> None:
    # Two different people may share a name; names repeated within one tag are never de-duplicated.
    p = tmp_path / "twins.ris"
    p.write_text("TY  - JOUR\nTI  - Synthetic title\nAU  - Li, Y.\nAU  - Wang, X.\nAU  - Li, Y.\nER  - \n", encoding="utf-8")
    (rec,) = list(read_records(p, database="other", run_id=RUN))
    assert rec.authors == ("Li, Y.", "Wang, X.", "Li, Y.")


def test_ris_one_space_variant_and_header(tmp_path: Path) -> None:
    p = tmp_path / "y.ris"
    p.write_text("Provider: Some Publisher\n\nTY - JOUR\nTI - Synthetic title\nER -\n", encoding="utf-8")
    (rec,) = list(read_records(p, fmt="ris", database="other", run_id=RUN))
    assert rec.title == "Synthetic title" and rec.source_line == 3 and rec.record_id == f"other:{RUN}#1"


# --- CSV ---------------------------------------------------------------------------------------
def test_asysd_csv() -> None:
    recs = parse("asysd.csv", "other")
    assert [r.record_id for r in recs] == ["other:1", "other:2", "other:3"]  # the blank row is not a record
    assert [r.source_line for r in recs] == [2, 4, 6]  # a quoted line break shifts the next row's line
    assert {r.encoding for r in recs} == {"utf-8-sig"}
    first = recs[0]
    assert first.doi == "10.1001/jamapsychiatry.2014.62"
    assert first.abstract == "Fixture text, with a comma, and a line break inside the quoted cell."
    assert first.authors == ("Feder A", "Parides MK", "Murrough JW")  # PubMed's 'Surname INITIALS, ...' list is split on ', '
    assert (first.issue, first.pages, first.volume, first.year) == ("6", "681-8", "71", "2014")
    assert recs[1].abstract == "Fixture text mentioning NCT04322968 as text."
    assert recs[1].registration == ("NCT04322968",)
    assert recs[2].authors == ("Schönenberg M",)


def test_cp1252_semicolon_csv() -> None:
    assert detect_encoding(DATA / "covidence_cp1252.csv") == "cp1252"
    recs = parse("covidence_cp1252.csv", "psycinfo")
    assert [r.record_id for r in recs] == [f"psycinfo:{RUN}#1", f"psycinfo:{RUN}#2"]  # no id column: row numbers
    assert {r.encoding for r in recs} == {"cp1252"}
    assert recs[0].authors == ("Rothärmel M", "Benosman C", "El-Hage W")
    assert recs[0].abstract == "Fixture text: the authors’ pilot study; café."
    assert recs[0].year == "2022" and recs[0].doi == "10.3389/fpsyt.2022.865466"
    assert recs[1].authors == ("Pradhan B", "Kluewer D’Amico J")
    assert recs[1].journal == "Journal of Trauma & Dissociation"


def test_csv_without_title_column_names_columns() -> None:
    with pytest.raises(InputFormatError) as err:
        list(read_records(DATA / "notitle.csv", database="other", run_id=RUN, source_file="notitle.csv"))
    message = str(err.value)
    assert message.startswith("notitle.csv:1: no title column; the columns are: Name, Year, DOI")
    assert "\n" not in message


def test_csv_latin1_fallback(tmp_path: Path) -> None:
    p = tmp_path / "l1.csv"
    p.write_bytes("title,author\nSynthetic caf\xe9 title,Synthetic \x81\n".encode("latin-1"))
    (rec,) = list(read_records(p, database="other", run_id=RUN))
    assert rec.encoding == "latin-1" and rec.title == "Synthetic café title"


def test_csv_truncated_inside_quotes(tmp_path: Path) -> None:
    p = tmp_path / "cut.csv"
    p.write_text('title,abstract\nSynthetic one,complete\nSynthetic two,"cut off\nin the middle\n', encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"cut\.csv:3: a quoted cell in the row starting at line 3 is never closed"):
        list(read_records(p, database="other", run_id=RUN))


def test_csv_too_many_cells(tmp_path: Path) -> None:
    p = tmp_path / "wide.csv"
    p.write_text("title,year\nSynthetic,2020,extra\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"wide\.csv:2: 3 cells"):
        list(read_records(p, database="other", run_id=RUN))


def test_ctgov_csv() -> None:
    recs = parse("ctgov.csv", "clinicaltrials")
    assert [r.record_id for r in recs] == ["clinicaltrials:NCT00749203", "clinicaltrials:NCT04322968"]
    a = recs[0]
    assert a.native_id == "NCT00749203" and a.registration == ("NCT00749203",)
    assert a.title == "Ketamine as a Rapid Treatment for Post-traumatic Stress Disorder (PTSD)"
    assert a.abstract == "Fixture summary written for the parser tests."
    assert a.keywords == (
        "Post-traumatic Stress Disorder",
        "DRUG: Ketamine",
        "DRUG: Midazolam",
        "Study Type: INTERVENTIONAL",
        "Allocation: RANDOMIZED",
        "Intervention Model: CROSSOVER",
    )
    assert a.publication_types == ()  # the file gives none; none invented
    assert [r.source_line for r in recs] == [2, 3]


@pytest.mark.parametrize("bad", ["NCT0074920", "NCT007492031", "NCT0074920X", "nct00749203", "00749203", "NCT00749203; NCT04322968", ""])
def test_ctgov_csv_nct_number_not_an_nct_id_is_one_line_naming_file_and_line(tmp_path: Path, bad: str) -> None:
    """Was imported as it stood: a record_id 'clinicaltrials:NCT0074920' (or, for an empty cell, one
    numbered by its row) that matches no registration elsewhere, and a registration that is no NCT id."""
    lines = (DATA / "ctgov.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[2].startswith("NCT04322968,")
    p = tmp_path / "ctgov.csv"
    p.write_text("".join([*lines[:2], f"{bad}{lines[2][len('NCT04322968'):]}"]), encoding="utf-8")
    with pytest.raises(InputFormatError) as err:
        list(read_records(p, fmt="ctgov_csv", database="clinicaltrials", run_id=RUN, source_file="runs/ctgov.csv"))
    msg = str(err.value)
    assert msg.startswith(f"runs/ctgov.csv:3: column 'NCT Number' is {bad!r}, not a ClinicalTrials.gov id (NCT and 8 digits); fix: "), msg
    assert "\n" not in msg and "e.g. NCT00749203" in msg


def test_ctgov_csv_requires_nct_column() -> None:
    with pytest.raises(InputFormatError, match="not a ClinicalTrials.gov CSV"):
        list(read_records(DATA / "asysd.csv", fmt="ctgov_csv", database="clinicaltrials", run_id=RUN))


def test_unknown_format_name() -> None:
    with pytest.raises(InputFormatError, match="unknown format 'bibtex'"):
        read_records(DATA / "asysd.csv", fmt="bibtex", database="other", run_id=RUN)


# --- encoding: UTF-8 with a stray byte is an error, not cp1252 ----------------------------------
UTF8_RIS = "TY  - JOUR\nTI  - Synthetic title – café\nAU  - Schönenberg, M.\nER  - \n"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_file_with_one_invalid_byte_names_line_and_offset(tmp_path: Path, bom: bytes) -> None:
    p = tmp_path / "stray.ris"
    body = UTF8_RIS.encode("utf-8")
    cut = body.index(b"AU  -")
    data = bom + body[:cut] + b"Synthetic \xff note\n" + body[cut:]
    p.write_bytes(data)
    offset = data.index(b"\xff")
    with pytest.raises(InputFormatError) as err:
        list(read_records(p, fmt="ris", database="embase", run_id=RUN, source_file="stray.ris"))
    message = str(err.value)
    assert message.startswith(f"stray.ris:3: byte 0xff at byte offset {offset} is not valid UTF-8")
    assert "re-export" in message and "UTF-8" in message.split("fix:")[1]
    with pytest.raises(InputFormatError, match=rf"stray\.ris:3: byte 0xff at byte offset {offset}"):
        detect_encoding(p, name="stray.ris")


def test_bom_file_with_invalid_byte_and_no_other_non_ascii_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "bom.csv"
    data = b"\xef\xbb\xbftitle,year\nSynthetic one,2020\nSynthetic caf\xe9,2021\n"
    p.write_bytes(data)
    assert data.index(b"\xe9") == 46
    with pytest.raises(InputFormatError, match=r"bom\.csv:3: byte 0xe9 at byte offset 46 is not valid UTF-8"):
        list(read_records(p, database="other", run_id=RUN, source_file="bom.csv"))


def test_cp1252_file_with_an_accidental_utf8_pair_stays_cp1252(tmp_path: Path) -> None:
    # "Ã©" in cp1252 is the bytes of UTF-8 "é"; the other accented letters are not UTF-8, so cp1252 wins.
    p = tmp_path / "win.csv"
    p.write_bytes("title,author\n\"Synthetic café, naïve, déjà Ã© title\",Synthetic Müller\n".encode("cp1252"))
    assert detect_encoding(p) == "cp1252"
    (rec,) = list(read_records(p, database="other", run_id=RUN))
    assert rec.title == "Synthetic café, naïve, déjà Ã© title" and rec.encoding == "cp1252"


def test_valid_utf8_is_still_utf8(tmp_path: Path) -> None:
    p = tmp_path / "ok.ris"
    p.write_text(UTF8_RIS, encoding="utf-8")
    (rec,) = list(read_records(p, database="embase", run_id=RUN))
    assert rec.encoding == "utf-8" and rec.title == "Synthetic title – café" and rec.authors == ("Schönenberg, M.",)


def test_gzip_utf8_file_with_invalid_byte_gives_decompressed_offset(tmp_path: Path) -> None:
    data = UTF8_RIS.encode("utf-8").replace(b"ER  - ", b"N1  - Synthetic \xff\nER  - ")
    p = tmp_path / "stray.ris.gz"
    p.write_bytes(gzip.compress(data))
    offset = data.index(b"\xff")
    with pytest.raises(InputFormatError, match=rf"stray\.ris\.gz:4: byte 0xff at byte offset {offset} of the decompressed data"):
        list(read_records(p, fmt="ris", database="embase", run_id=RUN, source_file="stray.ris.gz"))


# --- files that are not RIS or lack the columns are errors, not 0 records -----------------------
OVID_CITATION_DISPLAY = """<1>
Authors
  Synthetic A.
Title
  Synthetic title of a display export.
Source
  Synthetic Journal. 2020;1:1-2.

<2>
Authors
  Synthetic B.
Title
  Another synthetic title.
"""


def test_ovid_citation_display_as_ris_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "citation.txt"
    p.write_text(OVID_CITATION_DISPLAY, encoding="utf-8")
    with pytest.raises(InputFormatError) as err:
        list(read_records(p, fmt="ris", database="embase", run_id=RUN, source_file="citation.txt"))
    message = str(err.value)
    assert message.startswith("citation.txt:1: no RIS record in the file; 12 non-blank lines before any TY line, the first: '<1>' (a RIS record")
    assert "fix: export the records in RIS format" in message


def test_ris_with_three_spaces_before_the_hyphen_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "spaces.ris"
    p.write_text("\nTY   - JOUR\nTI   - Synthetic title\nER   - \n", encoding="utf-8")
    # the message folds runs of spaces, so it counts them
    with pytest.raises(InputFormatError, match=r"spaces\.ris:2: no RIS record in the file; 3 non-blank lines .* the first: 'TY - JOUR' \(3 spaces between the tag and the hyphen\)"):
        list(read_records(p, fmt="ris", database="embase", run_id=RUN, source_file="spaces.ris"))


def test_ris_file_of_blank_lines_is_zero_records(tmp_path: Path) -> None:
    p = tmp_path / "empty.ris"
    p.write_text("\n\n", encoding="utf-8")
    assert list(read_records(p, fmt="ris", database="embase", run_id=RUN)) == []


def test_ris_header_lines_before_records_are_still_skipped(tmp_path: Path) -> None:
    p = tmp_path / "hdr.ris"
    p.write_text("Provider: Synthetic Provider\nContent: text/plain\n\nTY  - JOUR\nTI  - Synthetic title\nER  - \n", encoding="utf-8")
    (rec,) = list(read_records(p, database="embase", run_id=RUN))
    assert rec.title == "Synthetic title" and rec.source_line == 4


@pytest.mark.parametrize("fmt", ["csv", "ctgov_csv"])
def test_header_only_csv_without_required_columns_is_an_error(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / "head.csv"
    p.write_text("Name,Year,DOI\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"head\.csv:1: (no title column|not a ClinicalTrials\.gov CSV)"):
        list(read_records(p, fmt=fmt, database="other", run_id=RUN, source_file="head.csv"))


def test_header_only_csv_with_a_title_column_is_zero_records(tmp_path: Path) -> None:
    p = tmp_path / "head.csv"
    p.write_text("title,year\n\n", encoding="utf-8")
    assert list(read_records(p, database="other", run_id=RUN)) == []


# --- wrapped text that looks like a one-space tag -----------------------------------------------
def test_wrapped_line_like_a_one_space_tag_continues_the_field(tmp_path: Path) -> None:
    p = tmp_path / "wrap.ris"
    p.write_text(
        "TY  - JOUR\nTI  - Synthetic title\nN2  - Ketamine given\nIV - 0.5 mg/kg, vs midazolam\n"
        "CT - guided, a known tag name\nER  - \n",
        encoding="utf-8",
    )
    (rec,) = list(read_records(p, database="embase", run_id=RUN))
    assert rec.abstract == "Ketamine given IV - 0.5 mg/kg, vs midazolam CT - guided, a known tag name"


def test_one_space_file_takes_known_tags_only(tmp_path: Path) -> None:
    p = tmp_path / "one.ris"
    p.write_text("TY - JOUR\nTI - Synthetic title\nN2 - Ketamine given\nIV - 0.5 mg/kg\nAU - Synthetic, A.\nER -\n", encoding="utf-8")
    (rec,) = list(read_records(p, fmt="ris", database="embase", run_id=RUN))
    assert rec.abstract == "Ketamine given IV - 0.5 mg/kg"
    assert rec.authors == ("Synthetic, A.",)


def test_one_space_er_line_ends_a_two_space_record(tmp_path: Path) -> None:
    p = tmp_path / "mixed.ris"
    p.write_text("TY  - JOUR\nTI  - Synthetic one\nER -\nTY  - JOUR\nTI  - Synthetic two\nER  - \n", encoding="utf-8")
    assert [r.title for r in read_records(p, database="embase", run_id=RUN)] == ["Synthetic one", "Synthetic two"]


# --- the RIS record type when the record has no M3/PT ---------------------------------------------
@pytest.mark.parametrize(
    ("ty", "types", "kind"),
    [
        ("ABST", ("Abstract",), "conference_abstract"),
        ("CONF", ("Conference Proceeding",), "conference_abstract"),
        ("CPAPER", ("Conference Proceeding",), "conference_abstract"),
        ("THES", ("Thesis",), "publication"),
        # JOUR is not mapped: the default snapshot holds JOUR records without M3, whose records.tsv rows must not change
        ("JOUR", (), "publication"),
    ],
)
def test_ris_type_gives_the_publication_type_without_m3(tmp_path: Path, ty: str, types: tuple[str, ...], kind: str) -> None:
    from livingreview.dedup import record_kind

    p = tmp_path / "ty.ris"
    p.write_text(f"TY  - {ty}\nTI  - Synthetic title\nER  - \n", encoding="utf-8")
    (rec,) = list(read_records(p, database="embase", run_id=RUN))
    assert rec.publication_types == types
    assert record_kind(rec) == kind


def test_ris_m3_wins_over_the_record_type(tmp_path: Path) -> None:
    p = tmp_path / "m3.ris"
    p.write_text("TY  - CONF\nTI  - Synthetic title\nM3  - Journal Article\nER  - \n", encoding="utf-8")
    (rec,) = list(read_records(p, database="embase", run_id=RUN))
    assert rec.publication_types == ("Journal Article",)


def test_ris_au_and_a1_naming_the_same_authors_list_them_once(tmp_path: Path) -> None:
    p = tmp_path / "both.ris"
    p.write_text(
        "TY  - JOUR\nTI  - Synthetic title\nAU  - Li, Y.\nAU  - Wang, X.\nAU  - Li, Y.\n"
        "A1  - Li, Y.\nA1  - Wang, X.\nA1  - Li, Y.\nA1  - Zhou, Z.\nER  - \n",
        encoding="utf-8",
    )
    (rec,) = list(read_records(p, database="other", run_id=RUN))
    # each A1 name already given by an AU line is dropped once; a name repeated in one tag stays repeated
    assert rec.authors == ("Li, Y.", "Wang, X.", "Li, Y.", "Zhou, Z.")


# --- PubMed CSV author lists ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "authors"),
    [
        # PubMed's CSV: 'Surname INITIALS' joined by ', ', the list ending with a period
        ("Synthetic A, de Synthetic Filho ASB, Synthetic-Name CD.", ("Synthetic A", "de Synthetic Filho ASB", "Synthetic-Name CD")),
        ("Synthetic A, Synthetic B Jr", ("Synthetic A", "Synthetic B Jr")),
        ("Synthetic B.", ("Synthetic B",)),
        # not every part is 'Surname INITIALS': kept as one value
        ("Synthetic, A.", ("Synthetic, A.",)),
        ("Synthetic A, Synthetic Study Group", ("Synthetic A, Synthetic Study Group",)),
        ("Synthetic, Anna, Synthetic, Bea", ("Synthetic, Anna, Synthetic, Bea",)),
        # a ';' list is split on ';' only
        ("Synthetic, A.; Synthetic, B.", ("Synthetic, A.", "Synthetic, B.")),
    ],
)
def test_csv_author_cells(tmp_path: Path, cell: str, authors: tuple[str, ...]) -> None:
    p = tmp_path / "au.csv"
    p.write_text(f'title,authors\nSynthetic title,"{cell}"\n', encoding="utf-8")
    (rec,) = list(read_records(p, database="other", run_id=RUN))
    assert rec.authors == authors


# --- repeated CSV column names ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "header", "message"),
    [
        ("csv", "Title,Title,DOI,DOI", "column 'Title' occurs twice (columns 1 and 2)"),
        ("csv", "title,Year,TITLE,x", "column 'TITLE' occurs twice (columns 1 and 3)"),
        ("ctgov_csv", "NCT Number,Study Title,Conditions,Conditions", "column 'Conditions' occurs twice (columns 3 and 4)"),
    ],
)
def test_repeated_csv_column_is_an_error(tmp_path: Path, fmt: str, header: str, message: str) -> None:
    p = tmp_path / "dup.csv"
    p.write_text(f"{header}\n,Synthetic title,,\n", encoding="utf-8")
    with pytest.raises(InputFormatError) as err:
        list(read_records(p, fmt=fmt, database="other", run_id=RUN, source_file="dup.csv"))
    assert str(err.value).startswith(f"dup.csv:1: {message}")
    assert "fix: " in str(err.value)


def test_blank_column_names_may_repeat(tmp_path: Path) -> None:
    p = tmp_path / "blank.csv"
    p.write_text("title,year,,\nSynthetic title,2020,,\n", encoding="utf-8")
    (rec,) = list(read_records(p, database="other", run_id=RUN))
    assert rec.title == "Synthetic title" and rec.year == "2020"


# --- a MEDLINE file cut off inside its last record ------------------------------------------------
def test_medline_cut_before_the_last_records_title_is_an_error(tmp_path: Path) -> None:
    data = (DATA / "pubmed.nbib").read_bytes()
    p = tmp_path / "cut.nbib"
    p.write_bytes(data[: data.index(b"DP  - 2014") + len(b"DP  - 20")])  # inside record 2, before its TI line
    with pytest.raises(InputFormatError) as err:
        list(read_records(p, database="pubmed", run_id=RUN, source_file="cut.nbib"))
    message = str(err.value)
    assert message.startswith("cut.nbib:32: the last record (PMID 24740528) has no title (TI), so the file looks cut off")
    assert "fix: export or download the records again" in message


def test_medline_cut_after_the_last_records_title_still_parses(tmp_path: Path) -> None:
    # nothing in the file tells this cut apart from a complete record: add-run's --count-reported check is what catches it
    data = (DATA / "pubmed.nbib").read_bytes()
    p = tmp_path / "cut.nbib"
    p.write_bytes(data[: data.index(b"PG  - 681-8")])
    recs = list(read_records(p, database="pubmed", run_id=RUN))
    assert [r.pmid for r in recs] == ["35046508", "24740528"] and recs[1].title.startswith("Efficacy of intravenous ketamine")


def test_medline_record_without_title_before_the_last_is_kept(tmp_path: Path) -> None:
    p = tmp_path / "nt.nbib"
    p.write_text("PMID- 1\nDP  - 2020\n\nPMID- 2\nTI  - Synthetic title\n", encoding="utf-8")
    assert [r.title for r in read_records(p, database="other", run_id=RUN)] == ["", "Synthetic title"]


def test_medline_book_title_counts_as_a_title(tmp_path: Path) -> None:
    p = tmp_path / "book.nbib"
    p.write_text("PMID- 1\nBTI - Synthetic book title", encoding="utf-8")  # no final newline
    (rec,) = list(read_records(p, database="other", run_id=RUN))
    assert rec.title == "Synthetic book title"


def test_record_id_is_prefixed_by_the_database_once() -> None:
    from livingreview.parsers.common import make_record_id

    assert make_record_id("embase", "synthetic-7", "2025-09-30", 3) == "embase:synthetic-7"
    assert make_record_id("embase", "embase:synthetic-7", "2025-09-30", 3) == "embase:synthetic-7"  # an export that already holds our id
    assert make_record_id("embase", "  ", "2025-09-30", 3) == "embase:2025-09-30#3"


# --- UTF-16/UTF-32 exports and NUL bytes (audit): named, not misread -----------------------------
@pytest.mark.parametrize(
    ("encoding", "label", "bom"),
    [("utf-16", "UTF-16 (little-endian)", "FF FE"), ("utf-16-be", "UTF-16 (big-endian)", "FE FF"), ("utf-32", "UTF-32 (little-endian)", "FF FE 00 00")],
)
@pytest.mark.parametrize(("name", "text", "fmt"), [("excel_unicode.csv", "Title\tYear\nA trial\t2020\n", "csv"), ("endnote.ris", "TY  - JOUR\nTI  - A trial\nER  - \n", "ris")])
def test_utf16_and_utf32_exports_are_named_with_the_fix(tmp_path: Path, encoding: str, label: str, bom: str, name: str, text: str, fmt: str) -> None:
    # Excel's 'Unicode Text' (and some reference managers) write UTF-16. Before, detection said
    # "cannot tell the format" with the NUL-riddled first line, or "no title column" listing columns
    # full of NUL characters, and never said what the file was or how to save it.
    p = tmp_path / name
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    p.write_bytes(data)
    expected = rf"{name}:1: the file is {re.escape(label)} \(it starts with the byte-order mark {bom}\).*fix: export or save the file again as UTF-8"
    with pytest.raises(InputFormatError, match=expected):
        detect_format(p)
    with pytest.raises(InputFormatError, match=expected):
        list(read_records(p, fmt=fmt, database="other", run_id=RUN, source_file=name))


@pytest.mark.parametrize(("fmt", "text"), [("ris", b"TY  - JOUR\n\x00TI  - A trial\nER  - \n"), ("medline", b"PMID- 1\nTI  - A\x00 trial\n"), ("csv", b"title\nA trial\nB\x00 trial\n")])
def test_a_nul_byte_in_a_text_export_is_an_error_naming_its_line(tmp_path: Path, fmt: str, text: bytes) -> None:
    # Before, a NUL byte was read as text: in RIS the line "\x00TI  - A trial" became part of the TY
    # field and the record was archived with no title.
    p = tmp_path / f"x.{fmt}"
    p.write_bytes(text)
    offset = text.index(b"\x00")
    line = text[:offset].count(b"\n") + 1
    with pytest.raises(InputFormatError, match=rf"x\.{fmt}:{line}: byte 0x00 \(NUL\) at byte offset {offset}"):
        list(read_records(p, fmt=fmt, database="other", run_id=RUN, source_file=f"x.{fmt}"))


# --- PubMed XML: nothing skipped without a word; the first parser error named (audit) ------------
_ARTICLE = "<PubmedArticle><MedlineCitation><PMID>{}</PMID><Article><ArticleTitle>Synthetic {}</ArticleTitle></Article></MedlineCitation></PubmedArticle>"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # a misspelt record element (a hand-edited or merged file): before, skipped, 1 record of 2 archived
        (_ARTICLE.format(1, 1) + "\n<PubmedArticl><MedlineCitation><PMID>2</PMID></MedlineCitation></PubmedArticl>", r"x\.xml:4: <PubmedArticl> under <PubmedArticleSet> is not PubmedArticle or PubmedBookArticle: it is not read"),
        # an unknown element after the last record
        (_ARTICLE.format(1, 1) + "\n<Junk/>", r"x\.xml:4: <Junk> under <PubmedArticleSet> is not PubmedArticle"),
        # records wrapped in another element
        ("<Wrapper>\n" + _ARTICLE.format(1, 1) + "\n</Wrapper>", r"x\.xml:4: <PubmedArticle> inside <Wrapper>, not directly under <PubmedArticleSet>"),
        # an HTML entity XML does not define: before, "no element found" at line "?"
        (_ARTICLE.format(1, "caf&eacute;"), r"x\.xml:3: malformed or truncated PubMed XML \(Entity 'eacute' not defined\)"),
    ],
)
def test_pubmed_xml_that_would_lose_records_or_hide_the_cause_is_an_error(tmp_path: Path, body: str, message: str) -> None:
    p = tmp_path / "x.xml"
    p.write_text(f'<?xml version="1.0"?>\n<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n', encoding="utf-8")
    with pytest.raises(InputFormatError, match=message):
        list(read_records(p, database="pubmed", run_id=RUN, source_file="x.xml"))


def test_pubmed_xml_delete_citations_are_not_records(tmp_path: Path) -> None:
    # PubMed's update files list withdrawn PMIDs in DeleteCitation: not a record, not an error.
    p = tmp_path / "x.xml"
    p.write_text(
        '<?xml version="1.0"?>\n<PubmedArticleSet>\n' + _ARTICLE.format(1, 1) + "\n<DeleteCitation><PMID>9</PMID></DeleteCitation>\n" + _ARTICLE.format(2, 2) + "\n</PubmedArticleSet>\n",
        encoding="utf-8",
    )
    assert [r.record_id for r in read_records(p, database="pubmed", run_id=RUN)] == ["pubmed:1", "pubmed:2"]
