"""Streaming parser for PubMed XML (efetch ``rettype=xml`` or the PubMed 'Save: XML' export), gzip or plain."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator

from lxml import etree

from ..constants import LIST_SEP
from ..errors import InputFormatError
from ..records import Record
from .common import REGISTRY_DATABANKS, clean, clean_text, dedupe, find_registrations, find_year, make_record_id, normalise_doi, unique
from .textio import open_binary

ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle")


def _collect(elem: etree._Element, parts: list[str]) -> None:
    """Append the text of ``elem`` and of its descendant elements, in document order, to ``parts``.

    Comments and processing instructions contribute only the text that follows them (their tail);
    a record holding an entity reference is refused before (_check_no_entity).
    """
    if elem.text:
        parts.append(elem.text)
    for child in elem:
        if isinstance(child.tag, str):  # an element; entities, comments and PIs have a non-str tag
            _collect(child, parts)
        if child.tail:
            parts.append(child.tail)


def _raw(elem: etree._Element) -> str:
    """All text inside an element (inline markup such as <i>, <sup> flattened), whitespace as in the file."""
    if not len(elem):  # a leaf: the common case, kept fast
        return elem.text or ""
    parts: list[str] = []
    _collect(elem, parts)
    return "".join(parts)


def _text(elem: etree._Element | None) -> str:
    """All text inside an element, whitespace collapsed ("" for a missing element)."""
    if elem is None:
        return ""
    if not len(elem):
        return clean(elem.text)
    return clean(_raw(elem))


def _first(elem: etree._Element, *paths: str) -> str:
    """Text of the first path that gives a non-empty value."""
    for path in paths:
        value = _text(elem.find(path))
        if value:
            return value
    return ""


def _authors(author_list: etree._Element | None) -> list[str]:
    """"LastName Initials" per author (CollectiveName as written)."""
    out: list[str] = []
    if author_list is None:
        return out
    for author in author_list:
        if author.tag != "Author":
            continue
        last = initials = collective = ""
        for part in author:
            tag = part.tag
            if tag == "LastName":
                last = clean(_raw(part))
            elif tag == "Initials":
                initials = clean(_raw(part))
            elif tag == "CollectiveName":
                collective = clean(_raw(part))
        if last:
            out.append(f"{last} {initials}" if initials else last)
        elif collective:
            out.append(collective)
    return out


def _abstract(abstract: etree._Element | None) -> str:
    """All AbstractText sections, each prefixed by its Label ("METHODS: ...")."""
    if abstract is None:
        return ""
    parts = []
    for section in abstract:
        if section.tag != "AbstractText":
            continue
        text = clean_text(_raw(section))
        label = clean(section.get("Label"))
        if label and text:
            parts.append(f"{label}: {text}")
        elif text:
            parts.append(text)
    return " ".join(parts)


def _year(pub_date: etree._Element | None) -> str:
    """PubDate Year, else the first year in MedlineDate ("2013 Dec-2014 Jan" -> 2013)."""
    if pub_date is None:
        return ""
    medline_date = ""
    for part in pub_date:
        if part.tag == "Year":
            year = _text(part)
            if year:
                return year
        elif part.tag == "MedlineDate":
            medline_date = _text(part)
    return find_year(medline_date)


def _pages(pagination: etree._Element | None) -> str:
    """MedlinePgn as given ("221-8"), else StartPage-EndPage."""
    if pagination is None:
        return ""
    pgn = start = end = ""
    for part in pagination:
        if part.tag == "MedlinePgn":
            pgn = _text(part)
        elif part.tag == "StartPage":
            start = _text(part)
        elif part.tag == "EndPage":
            end = _text(part)
    if pgn:
        return pgn
    return f"{start}-{end}" if start and end else start


def _databank_registrations(bank_list: etree._Element) -> list[str]:
    """Accession numbers of the trial registries in a DataBankList (GenBank and the like are skipped)."""
    regs: list[str] = []
    for bank in bank_list.iter("DataBank"):
        if _text(bank.find("DataBankName")).lower() in REGISTRY_DATABANKS:
            regs.extend(_text(a) for a in bank.iter("AccessionNumber"))
    return regs


def _texts(parent: etree._Element | None, tag: str) -> list[str]:
    """Texts of the direct children of ``parent`` with this tag."""
    if parent is None:
        return []
    return [_text(child) for child in parent if child.tag == tag]


def _article_record(elem: etree._Element, *, database: str, run_id: str, source_file: str, ordinal: int) -> Record:
    """Map one <PubmedArticle> to a Record (one pass over the children; no path searches on the hot path)."""
    citation = pubmed_data = None
    for child in elem:
        if child.tag == "MedlineCitation":
            citation = child
        elif child.tag == "PubmedData":
            pubmed_data = child
    if citation is None:
        raise InputFormatError(
            "PubmedArticle without MedlineCitation",
            where=f"{source_file}:{elem.sourceline}",
            fix="re-export the file from PubMed (it is not PubMed XML as efetch writes it)",
        )
    pmid = title = vernacular = abstract = journal = abbrev = medline_ta = year = article_year = volume = issue = pages = ""
    doi = eloc_doi = ""
    authors: list[str] = []
    languages: list[str] = []
    pub_types: list[str] = []
    mesh: list[str] = []
    keywords: list[str] = []
    registrations: list[str] = []
    for child in citation:
        tag = child.tag
        if tag == "PMID":
            pmid = _text(child)
        elif tag == "Article":
            for part in child:
                ptag = part.tag
                if ptag == "Journal":
                    for j in part:
                        if j.tag == "Title":
                            journal = clean_text(_raw(j))
                        elif j.tag == "ISOAbbreviation":
                            abbrev = _text(j)
                        elif j.tag == "JournalIssue":
                            for ji in j:
                                if ji.tag == "Volume":
                                    volume = _text(ji)
                                elif ji.tag == "Issue":
                                    issue = _text(ji)
                                elif ji.tag == "PubDate":
                                    year = _year(ji)
                elif ptag == "ArticleTitle":
                    title = clean_text(_raw(part))
                elif ptag == "VernacularTitle":
                    vernacular = clean_text(_raw(part))
                elif ptag == "Pagination":
                    pages = _pages(part)
                elif ptag == "ELocationID":
                    if not eloc_doi and part.get("EIdType") == "doi":
                        eloc_doi = _text(part)  # normalised below, only when PubmedData gives no DOI
                elif ptag == "Abstract":
                    abstract = _abstract(part)
                elif ptag == "AuthorList":
                    authors = _authors(part)
                elif ptag == "Language":
                    languages.append(_text(part))
                elif ptag == "PublicationTypeList":
                    pub_types = _texts(part, "PublicationType")
                elif ptag == "DataBankList":
                    registrations = _databank_registrations(part)
                elif ptag == "ArticleDate" and not article_year:
                    article_year = _text(part.find("Year"))
        elif tag == "MedlineJournalInfo":
            medline_ta = _text(child.find("MedlineTA"))
        elif tag == "MeshHeadingList":
            mesh = [_text(d) for h in child for d in h if d.tag == "DescriptorName"]
        elif tag == "KeywordList":
            keywords.extend(clean_text(_raw(k)) for k in child if k.tag == "Keyword")
    if pubmed_data is not None:
        for id_list in pubmed_data:
            if id_list.tag == "ArticleIdList":  # direct child only: not the ReferenceList's cited works
                for aid in id_list:
                    if aid.get("IdType") == "doi":
                        doi = normalise_doi(_text(aid))
                        if doi:
                            break
    registrations.extend(find_registrations([f"{title} {abstract}"]))
    return Record(
        record_id=make_record_id(database, pmid, run_id, ordinal),
        run_id=run_id,
        database=database,
        native_id=pmid,
        pmid=pmid,
        doi=doi or normalise_doi(eloc_doi),
        title=title or vernacular,
        abstract=abstract,
        authors=tuple(authors),
        journal=journal,
        journal_abbrev=abbrev or medline_ta,
        year=year or article_year,
        volume=volume,
        issue=issue,
        pages=pages,
        publication_types=dedupe(pub_types),
        mesh=dedupe(mesh),
        keywords=dedupe(keywords),
        language=LIST_SEP.join(dedupe(languages)),
        registration=dedupe(registrations),
        source_file=source_file,
        source_line=int(elem.sourceline or 0),
        encoding="utf-8",
    )


def _book_record(elem: etree._Element, *, database: str, run_id: str, source_file: str, ordinal: int) -> Record:
    """Map one <PubmedBookArticle> (NCBI Bookshelf chapter or book) to a Record."""
    doc = elem.find("BookDocument")
    if doc is None:
        raise InputFormatError("PubmedBookArticle without BookDocument", where=f"{source_file}:{elem.sourceline}", fix="re-export the file from PubMed")
    pmid = _text(doc.find("PMID"))
    title = clean_text(_first(doc, "ArticleTitle", "Book/BookTitle"))
    abstract = _abstract(doc.find("Abstract"))
    return Record(
        record_id=make_record_id(database, pmid, run_id, ordinal),
        run_id=run_id,
        database=database,
        native_id=pmid,
        pmid=pmid,
        doi=next((normalise_doi(_text(a)) for a in doc.findall("ArticleIdList/ArticleId") if a.get("IdType") == "doi"), ""),
        title=title,
        abstract=abstract,
        authors=tuple(_authors(doc.find("AuthorList"))),
        journal=_text(doc.find("Book/BookTitle")),
        year=_year(doc.find("Book/PubDate")),
        publication_types=unique(_text(x) for x in doc.findall("PublicationType")),
        keywords=unique(_text(x) for x in doc.findall("KeywordList/Keyword")),
        language=LIST_SEP.join(unique(_text(x) for x in doc.findall("Language"))),
        registration=tuple(find_registrations([title, abstract])),
        source_file=source_file,
        source_line=int(elem.sourceline or 0),
        encoding="utf-8",
    )


# Elements PubMed XML holds directly under PubmedArticleSet besides the records: DeleteCitation
# (PMIDs withdrawn, in the baseline and update files) is no record.
NON_RECORD_TAGS = ("DeleteCitation",)


def _misplaced(elem: etree._Element, src: str, how: str) -> InputFormatError:
    """The error for an element that would be skipped silently (a record lost without a word)."""
    return InputFormatError(
        f"<{elem.tag}> {how}",
        where=f"{src}:{elem.sourceline}",
        fix="export the records again from PubMed (efetch rettype=xml or 'Save: XML'); do not edit or merge the file by hand",
    )


def article_pmid(article: etree._Element) -> str:
    """The PMID of a PubmedArticle or PubmedBookArticle ('' when absent)."""
    path = "MedlineCitation/PMID" if article.tag == "PubmedArticle" else "BookDocument/PMID"
    return (article.findtext(path) or "").strip()


def _check_no_entity(elem: etree._Element, src: str, ordinal: int) -> None:
    """A record must hold no entity reference: one is never expanded (no DTD is read), so its text
    would be lost without a word ("Caf&eacute;" read as "Caf"). PubMed writes its text as UTF-8 and
    uses only the five predefined entities (&amp; &lt; &gt; &quot; &apos;), which the parser expands;
    a reference left is an entity the file declares itself (its DOCTYPE) or assumes from a DTD."""
    entity = next(elem.iter(etree.Entity), None)
    if entity is not None:
        parent = entity.getparent()
        pmid = article_pmid(elem) or "?"
        raise InputFormatError(
            f"record {ordinal} (PMID {clean(pmid)}) holds the entity reference {entity.text} in <{parent.tag}>, "
            "which is never expanded (no DTD is read): its text would be lost",
            where=f"{src}:{entity.sourceline}",
            fix="export the records again from PubMed (efetch rettype=xml or 'Save: XML'), which writes text as UTF-8; "
            "do not edit the file by hand or convert it with a tool that writes HTML entities",
        )


def _check_sibling(elem: etree._Element, src: str) -> None:
    """An element directly under the root must be a record or a DeleteCitation."""
    if isinstance(elem.tag, str) and elem.tag not in ARTICLE_TAGS and elem.tag not in NON_RECORD_TAGS:
        raise _misplaced(elem, src, f"under <{elem.getparent().tag}> is not {' or '.join(ARTICLE_TAGS)}: it is not read, so a record in it would be lost")


def parse_pubmed_xml(
    path: str | os.PathLike[str], *, database: str, run_id: str, source_file: str | None = None
) -> Iterator[Record]:
    """Yield one Record per PubmedArticle / PubmedBookArticle, streaming (memory does not grow with file size).

    Entities are never expanded, no DTD is loaded and nothing is fetched from the network: a record
    holding an entity reference (its text would be lost), like a malformed or truncated file, raises
    InputFormatError naming the file and line.
    """
    src = source_file or str(path)
    ordinal = 0
    with open_binary(path) as fh:
        context = etree.iterparse(
            fh,
            events=("end",),
            tag=ARTICLE_TAGS,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            for _event, elem in context:
                ordinal += 1
                _check_no_entity(elem, src, ordinal)
                if elem.tag == "PubmedArticle":
                    record = _article_record(elem, database=database, run_id=run_id, source_file=src, ordinal=ordinal)
                else:
                    record = _book_record(elem, database=database, run_id=run_id, source_file=src, ordinal=ordinal)
                elem.clear(keep_tail=True)
                parent = elem.getparent()
                if parent is not None:
                    if parent.getparent() is not None:
                        raise _misplaced(elem, src, f"inside <{parent.tag}>, not directly under <PubmedArticleSet>: the file is not PubMed XML as PubMed writes it")
                    while elem.getprevious() is not None:
                        _check_sibling(parent[0], src)
                        del parent[0]
                yield record
        except etree.XMLSyntaxError as err:
            # The first error libxml2 logged names the cause and line ("Entity 'nbsp' not defined",
            # line 3); err.msg may be only the last one ("no element found", no line). The parser's own
            # log, not err.error_log, which also holds earlier parses' errors.
            first = next((e for e in context.error_log if e.line > 0), None)
            if first is not None and (not err.lineno or first.line < err.lineno):
                msg, line = first.message, first.line
            else:
                msg, line = err.msg, err.lineno or "?"
            raise InputFormatError(
                f"malformed or truncated PubMed XML ({clean(msg)})",
                where=f"{src}:{line}",
                fix="re-download or re-export the file; archived files must be complete",
            ) from None
        except (EOFError, zlib.error, OSError) as err:
            raise InputFormatError(
                f"cannot read the compressed file ({err})",
                where=f"{src}:after record {ordinal}",
                fix="re-download the file; the gzip stream is truncated or corrupt",
            ) from None
        root = context.root
        if root is None or root.tag not in ("PubmedArticleSet", "PubmedBookArticleSet"):
            raise InputFormatError(
                f"root element is {getattr(root, 'tag', None)!r}, not PubmedArticleSet",
                where=f"{src}:{getattr(root, 'sourceline', 1)}",
                fix="check that the file is PubMed XML (efetch rettype=xml or PubMed 'Save: XML')",
            )
        for child in root:
            _check_sibling(child, src)
