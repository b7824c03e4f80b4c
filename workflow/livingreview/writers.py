"""Write Records in the formats databases export: PubMed XML, MEDLINE/nbib, OVID RIS and ClinicalTrials.gov CSV."""

from __future__ import annotations

import csv
import gzip
import io
import re
import textwrap
from collections.abc import Sequence

from lxml import etree

from .errors import InputFormatError
from .records import Record

# --- PubMed efetch XML -------------------------------------------------------------------------
PUBMED_XML_DECLARATION = '<?xml version="1.0" ?>'
PUBMED_DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)
# Language codes PubMed writes and the words OVID and MEDLINE/nbib use for them.
LANGUAGE_NAMES: dict[str, str] = {
    "eng": "English",
    "fre": "French",
    "ger": "German",
    "spa": "Spanish",
    "ita": "Italian",
    "por": "Portuguese",
    "chi": "Chinese",
    "jpn": "Japanese",
}
# Name suffixes that follow the initials in "Surname AB Jr".
NAME_SUFFIXES: frozenset[str] = frozenset({"Jr", "Sr", "II", "III", "IV", "2nd", "3rd"})
_INITIALS_RE = re.compile(r"^[A-Z\u00c0-\u00de]{1,5}$")
_NCT_RE = re.compile(r"\bNCT\d{8}\b")
_RIS_TAG_RE = re.compile(r"^[A-Z][A-Z0-9]  - ")

# --- OVID RIS ------------------------------------------------------------------------------------
# Database names as OVID writes them in the DB field.
OVID_DATABASE_NAMES: dict[str, str] = {
    "embase": "Embase",
    "psycinfo": "APA PsycInfo",
    "medline": "Ovid MEDLINE(R) ALL",
}
RIS_WIDTH = 80  # OVID wraps long fields; continuation lines carry no tag

# --- ClinicalTrials.gov CSV (the "modern" export, 2023 onwards) ---------------------------------
CTGOV_COLUMNS: tuple[str, ...] = (
    "NCT Number",
    "Study Title",
    "Study URL",
    "Acronym",
    "Study Status",
    "Brief Summary",
    "Study Results",
    "Conditions",
    "Interventions",
    "Primary Outcome Measures",
    "Secondary Outcome Measures",
    "Other Outcome Measures",
    "Sponsor",
    "Collaborators",
    "Sex",
    "Age",
    "Phases",
    "Enrollment",
    "Funder Type",
    "Study Type",
    "Study Design",
    "Other IDs",
    "Start Date",
    "Primary Completion Date",
    "Completion Date",
    "First Posted",
    "Results First Posted",
    "Last Update Posted",
    "Locations",
    "Study Documents",
)
CTGOV_STUDY_URL = "https://clinicaltrials.gov/study/{nct}"

# --- MEDLINE/nbib ----------------------------------------------------------------------------------
NBIB_WIDTH = 88  # PubMed wraps MEDLINE lines at 88 characters with a 6-space indent


def split_author(name: str) -> tuple[str, str, str]:
    """Split "Surname AB" (optionally "Surname AB Jr") into (surname, initials, suffix).

    A name without trailing initials (a group author such as "PTSD Study Group") comes back as
    (name, "", "").
    """
    tokens = name.split()
    suffix = ""
    if len(tokens) >= 3 and tokens[-1].rstrip(".") in NAME_SUFFIXES:
        suffix = tokens.pop().rstrip(".")
    if len(tokens) >= 2 and _INITIALS_RE.match(tokens[-1]):
        return " ".join(tokens[:-1]), tokens[-1], suffix
    return " ".join(tokens), "", suffix


def ovid_author(name: str) -> str:
    """An author as OVID writes it: "Surname, A. B." (suffix after a comma: "Surname, A. B., Jr.")."""
    surname, initials, suffix = split_author(name)
    if not initials:
        return surname
    text = f"{surname}, " + " ".join(f"{c}." for c in initials)
    if suffix:
        text += f", {suffix}."
    return text


def compress_page_range(pages: str) -> str:
    """MEDLINE-style page range: "681-688" -> "681-8", "1574-1581" -> "1574-81"; anything else unchanged."""
    match = re.fullmatch(r"([A-Za-z]?)(\d+)-([A-Za-z]?)(\d+)", pages.strip())
    if not match:
        return pages
    prefix, first, prefix_end, last = match.groups()
    if prefix_end and prefix_end != prefix:
        return pages
    if len(first) != len(last) or int(last) <= int(first):
        return f"{prefix}{first}-{last}"
    i = 0
    while i < len(first) - 1 and first[i] == last[i]:
        i += 1
    return f"{prefix}{first}-{last[i:]}"


def split_page_range(pages: str) -> tuple[str, str]:
    """(start, end) of a simple range "681-688"; (pages, "") when it is not a simple range."""
    match = re.fullmatch(r"\s*([A-Za-z]?\d+)\s*-\s*([A-Za-z]?\d+)\s*", pages)
    if not match:
        return pages.strip(), ""
    return match.group(1), match.group(2)


def _nct_ids(record: Record) -> list[str]:
    """ClinicalTrials.gov ids among a record's registrations, in order, without repeats."""
    seen: list[str] = []
    for reg in record.registration:
        for nct in _NCT_RE.findall(reg):
            if nct not in seen:
                seen.append(nct)
    return seen


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    """Append a child element with optional text and attributes."""
    elem = etree.SubElement(parent, tag, attrib)
    if text is not None:
        elem.text = text
    return elem


def _pubmed_article(record: Record) -> etree._Element:
    """One PubmedArticle element built from the fields the record holds (nothing else is added)."""
    if not record.pmid.isdigit():
        raise InputFormatError(
            f"PMID {record.pmid!r} is not a number",
            where=record.record_id or record.title[:60],
            fix="only records with a PMID can be written as PubMed XML",
        )
    art = etree.Element("PubmedArticle")
    citation = _sub(art, "MedlineCitation")
    _sub(citation, "PMID", record.pmid, Version="1")
    article = _sub(citation, "Article")
    journal = _sub(article, "Journal")
    issue_elem = _sub(journal, "JournalIssue", CitedMedium="Internet")
    if record.volume:
        _sub(issue_elem, "Volume", record.volume)
    if record.issue:
        _sub(issue_elem, "Issue", record.issue)
    pub_date = _sub(issue_elem, "PubDate")
    if record.year:
        _sub(pub_date, "Year", record.year)
    if record.journal:
        _sub(journal, "Title", record.journal)
    if record.journal_abbrev:
        _sub(journal, "ISOAbbreviation", record.journal_abbrev)
    _sub(article, "ArticleTitle", record.title)
    if record.pages:
        pagination = _sub(article, "Pagination")
        _sub(pagination, "MedlinePgn", record.pages)
    if record.doi:
        _sub(article, "ELocationID", record.doi, EIdType="doi", ValidYN="Y")
    if record.abstract:
        abstract = _sub(article, "Abstract")
        _sub(abstract, "AbstractText", record.abstract)
    if record.authors:
        complete = record.extra.get("authors_complete", "Y")
        author_list = _sub(article, "AuthorList", CompleteYN=complete)
        for name in record.authors:
            author = _sub(author_list, "Author", ValidYN="Y")
            surname, initials, suffix = split_author(name)
            if not initials:
                _sub(author, "CollectiveName", surname)
                continue
            _sub(author, "LastName", surname)
            _sub(author, "Initials", initials)
            if suffix:
                _sub(author, "Suffix", suffix)
    if record.language:
        _sub(article, "Language", record.language)
    ncts = _nct_ids(record)
    if ncts:
        bank_list = _sub(article, "DataBankList", CompleteYN="Y")
        bank = _sub(bank_list, "DataBank")
        _sub(bank, "DataBankName", "ClinicalTrials.gov")
        acc_list = _sub(bank, "AccessionNumberList")
        for nct in ncts:
            _sub(acc_list, "AccessionNumber", nct)
    if record.publication_types:
        pt_list = _sub(article, "PublicationTypeList")
        for pt in record.publication_types:
            _sub(pt_list, "PublicationType", pt)
    if record.mesh:
        mesh_list = _sub(citation, "MeshHeadingList")
        for term in record.mesh:
            heading = _sub(mesh_list, "MeshHeading")
            _sub(heading, "DescriptorName", term)
    if record.keywords:
        kw_list = _sub(citation, "KeywordList", Owner="NOTNLM")
        for kw in record.keywords:
            _sub(kw_list, "Keyword", kw, MajorTopicYN="N")
    pubmed_data = _sub(art, "PubmedData")
    ids = _sub(pubmed_data, "ArticleIdList")
    _sub(ids, "ArticleId", record.pmid, IdType="pubmed")
    if record.doi:
        _sub(ids, "ArticleId", record.doi, IdType="doi")
    pmcid = record.extra.get("pmcid", "")
    if pmcid:
        _sub(ids, "ArticleId", pmcid, IdType="pmc")
    return art


def pubmed_xml(records: Sequence[Record]) -> bytes:
    """A PubmedArticleSet as efetch returns it (declaration, DOCTYPE, 2-space indent), records in the given order.

    Written per record: PMID, journal (volume, issue, year, title, ISO abbreviation), title,
    MedlinePgn, DOI as ELocationID, abstract (one AbstractText), authors (LastName/Initials/Suffix,
    CollectiveName), language, ClinicalTrials.gov ids (DataBankList), publication types, MeSH,
    keywords, and ArticleIdList (pubmed, doi, ``extra["pmcid"]``). Elements whose values the record
    does not hold (dates, MeSH qualifiers, status attributes) are left out rather than guessed.
    """
    root = etree.Element("PubmedArticleSet")
    for record in records:
        root.append(_pubmed_article(record))
    body = etree.tostring(root, pretty_print=True, encoding="unicode")
    return (PUBMED_XML_DECLARATION + "\n" + PUBMED_DOCTYPE + "\n" + body).encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with mtime 0 and no file name in the header, so the same input gives the same bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as fh:
        fh.write(data)
    return buffer.getvalue()


def _wrap_field(tag: str, value: str, *, width: int) -> list[str]:
    """One RIS field as lines: "TG  - text" then untagged continuation lines, wrapped at ``width``."""
    first_width = max(width - 6, 20)
    lines = textwrap.wrap(
        " ".join(value.split()),
        width=first_width,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [""]
    if len(lines) > 1:
        rest = textwrap.wrap(" ".join(" ".join(lines[1:]).split()), width=width, break_long_words=False, break_on_hyphens=False)
        lines = [lines[0], *rest]
    for line in lines[1:]:
        if _RIS_TAG_RE.match(line):
            raise InputFormatError(
                f"a continuation line of {tag} would look like a RIS tag: {line[:20]!r}",
                where=tag,
                fix="write this field with a larger wrap width",
            )
    return [f"{tag}  - {lines[0]}".rstrip(), *lines[1:]]


def ovid_title(title: str) -> str:
    """The title as OVID writes it: with a trailing period unless it ends in . ? or !."""
    title = " ".join(title.split())
    return title if title.endswith((".", "?", "!")) else title + "."


def ovid_ris(
    records: Sequence[Record],
    *,
    database: str,
    pages_style: str = "compressed",
    year_style: str = "slashes",
    width: int = RIS_WIDTH,
) -> str:
    """An OVID RIS export of ``records`` in the given order, with no accession numbers (no AN field).

    Fields: TY (JOUR, or THES when ``extra["ris_type"]`` says so), DB (OVID's database name), T1
    (title with a trailing period), A1 ("Surname, A. B."), Y1, N2 (abstract), JF (full journal
    name), JA (``journal_abbrev``), VL, IS, SP/EP, PB (``extra["publisher"]``), M3 (publication
    types), LA, DO and UR (DOI as ``https://dx.doi.org/...``), ER. Long fields are wrapped at
    ``width`` on untagged continuation lines, as OVID does.

    ``pages_style``: "compressed" writes ``SP  - 221-8``; "split" writes SP and EP in full.
    ``year_style``: "slashes" writes ``Y1  - 2014//``; "plain" writes ``Y1  - 2014``.
    """
    if database not in OVID_DATABASE_NAMES:
        raise InputFormatError(
            f"unknown OVID database {database!r}",
            where="ovid_ris(database=...)",
            fix=f"use one of {', '.join(sorted(OVID_DATABASE_NAMES))}",
        )
    if pages_style not in ("compressed", "split") or year_style not in ("slashes", "plain"):
        raise InputFormatError(
            f"unknown style pages_style={pages_style!r} year_style={year_style!r}",
            where="ovid_ris",
            fix="pages_style is compressed|split; year_style is slashes|plain",
        )
    out: list[str] = []
    for record in records:
        lines: list[str] = [f"TY  - {record.extra.get('ris_type', 'JOUR')}", f"DB  - {OVID_DATABASE_NAMES[database]}"]
        lines += _wrap_field("T1", ovid_title(record.title), width=width)
        lines += [f"A1  - {ovid_author(a)}" for a in record.authors]
        if record.year:
            lines.append(f"Y1  - {record.year}//" if year_style == "slashes" else f"Y1  - {record.year}")
        if record.abstract:
            lines += _wrap_field("N2", record.abstract, width=width)
        if record.journal:
            lines += _wrap_field("JF", record.journal, width=width)
        if record.journal_abbrev:
            lines.append(f"JA  - {record.journal_abbrev}")
        if record.volume:
            lines.append(f"VL  - {record.volume}")
        if record.issue:
            lines.append(f"IS  - {record.issue}")
        if record.pages:
            if pages_style == "compressed":
                lines.append(f"SP  - {compress_page_range(record.pages)}")
            else:
                start, end = split_page_range(record.pages)
                lines.append(f"SP  - {start}")
                if end:
                    lines.append(f"EP  - {end}")
        if record.extra.get("publisher"):
            lines.append(f"PB  - {record.extra['publisher']}")
        if record.publication_types:
            lines += _wrap_field("M3", "; ".join(record.publication_types), width=width)
        if record.language:
            lines.append(f"LA  - {LANGUAGE_NAMES.get(record.language, record.language)}")
        if record.doi:
            lines.append(f"DO  - https://dx.doi.org/{record.doi}")
            lines.append(f"UR  - https://dx.doi.org/{record.doi}")
        lines.append("ER  - ")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def ctgov_csv(records: Sequence[Record]) -> str:
    """A ClinicalTrials.gov CSV export (modern column names) of trial registrations, rows in the given order.

    NCT Number is ``native_id`` (or the first NCT id in ``registration``), Study Title is the title,
    Study URL is derived from the NCT id, Brief Summary is the abstract; every other column is taken
    from ``record.extra`` by its exact column name and left empty when the record does not hold it.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CTGOV_COLUMNS)
    for record in records:
        nct = record.native_id or next(iter(_nct_ids(record)), "")
        if not _NCT_RE.fullmatch(nct):
            raise InputFormatError(
                f"no NCT id (native_id {record.native_id!r}, registration {record.registration!r})",
                where=record.record_id or record.title[:60],
                fix="only ClinicalTrials.gov registrations (NCT ids) belong in a ClinicalTrials.gov export",
            )
        cells: dict[str, str] = {c: " ".join(str(v).split()) for c, v in record.extra.items() if c in CTGOV_COLUMNS}
        cells["NCT Number"] = nct
        cells["Study Title"] = " ".join(record.title.split())
        cells["Study URL"] = CTGOV_STUDY_URL.format(nct=nct)
        cells["Brief Summary"] = " ".join(record.abstract.split())
        writer.writerow([cells.get(c, "") for c in CTGOV_COLUMNS])
    return buffer.getvalue()


def _nbib_field(tag: str, value: str, *, width: int) -> list[str]:
    """One MEDLINE field: "TAG - text" (tag padded to 4) with 6-space continuation lines."""
    lines = textwrap.wrap(" ".join(value.split()), width=width - 6, break_long_words=False, break_on_hyphens=False) or [""]
    head = f"{tag:<4}- {lines[0]}"
    return [head, *("      " + line for line in lines[1:])]


def medline_nbib(records: Sequence[Record], *, width: int = NBIB_WIDTH) -> str:
    """MEDLINE/nbib text (PubMed's "Save citation to file" format), one blank line between records.

    Fields: PMID, VI, IP, DP (year), TI, PG, LID (DOI with ``[doi]``), AB, AU per author, LA, PT,
    TA (``journal_abbrev``), JT (journal), MH, OT, SI (ClinicalTrials.gov ids), PMC, AID, SO.
    """
    out: list[str] = []
    for record in records:
        lines: list[str] = []
        if record.pmid:
            lines.append(f"PMID- {record.pmid}")
        if record.volume:
            lines += _nbib_field("VI", record.volume, width=width)
        if record.issue:
            lines += _nbib_field("IP", record.issue, width=width)
        if record.year:
            lines += _nbib_field("DP", record.year, width=width)
        lines += _nbib_field("TI", record.title, width=width)
        if record.pages:
            lines += _nbib_field("PG", record.pages, width=width)
        if record.doi:
            lines += _nbib_field("LID", f"{record.doi} [doi]", width=width)
        if record.abstract:
            lines += _nbib_field("AB", record.abstract, width=width)
        for author in record.authors:
            lines += _nbib_field("AU", author, width=width)
        if record.language:
            lines += _nbib_field("LA", record.language, width=width)
        for nct in _nct_ids(record):
            lines += _nbib_field("SI", f"ClinicalTrials.gov/{nct}", width=width)
        for pt in record.publication_types:
            lines += _nbib_field("PT", pt, width=width)
        if record.journal_abbrev:
            lines += _nbib_field("TA", record.journal_abbrev, width=width)
        if record.journal:
            lines += _nbib_field("JT", record.journal, width=width)
        for term in record.mesh:
            lines += _nbib_field("MH", term, width=width)
        for kw in record.keywords:
            lines += _nbib_field("OT", kw, width=width)
        if record.extra.get("pmcid"):
            lines += _nbib_field("PMC", record.extra["pmcid"], width=width)
        if record.doi:
            lines += _nbib_field("AID", f"{record.doi} [doi]", width=width)
        source = _nbib_source(record)
        if source:
            lines += _nbib_field("SO", source, width=width)
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def _nbib_source(record: Record) -> str:
    """The SO line: "J Abbrev. Year;Vol(Issue):Pages. doi: ..." from the fields the record holds."""
    journal = record.journal_abbrev or record.journal
    if not journal:
        return ""
    text = f"{journal}. {record.year}" if record.year else f"{journal}."
    if record.volume:
        text += f";{record.volume}"
        if record.issue:
            text += f"({record.issue})"
    if record.pages:
        text += f":{record.pages}"
    text += "."
    if record.doi:
        text += f" doi: {record.doi}."
    return text


def record_start_lines(text: str, *, marker: str) -> list[int]:
    """1-based numbers of the lines that start with ``marker`` (e.g. "TY  - ", "<PubmedArticle>" after indent)."""
    return [i for i, line in enumerate(text.splitlines(), start=1) if line.lstrip().startswith(marker)]


def csv_row_lines(text: str) -> list[int]:
    """1-based line where each data row of a CSV starts (quoted newlines counted)."""
    starts: list[int] = []
    line = 1
    reader = csv.reader(io.StringIO(text))
    header_seen = False
    for _row in reader:
        if header_seen:
            starts.append(line)
        header_seen = True
        line = reader.line_num + 1
    return starts

