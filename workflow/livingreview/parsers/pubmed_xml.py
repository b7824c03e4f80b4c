"""Streaming parser for PubMed XML (efetch ``rettype=xml`` or the PubMed 'Save: XML' export), gzip or plain."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator

from lxml import etree

from ..errors import InputFormatError
from ..records import Record
from .common import REGISTRY_DATABANKS, clean, clean_text, find_registrations, find_year, make_record_id, normalise_doi, unique
from .textio import open_binary

ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle")


def _text(elem: etree._Element | None) -> str:
    """All text inside an element (inline markup such as <i>, <sup> flattened), whitespace collapsed.

    Unexpanded entity references (we never expand entities) are left out.
    """
    if elem is None:
        return ""
    parts: list[str] = []
    for node in elem.iter():
        if isinstance(node, etree._Entity):
            if node.tail:
                parts.append(node.tail)
            continue
        if node.text:
            parts.append(node.text)
        if node is not elem and node.tail:
            parts.append(node.tail)
    return clean("".join(parts))


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
    for author in author_list.findall("Author"):
        collective = _text(author.find("CollectiveName"))
        last = _text(author.find("LastName"))
        initials = _text(author.find("Initials"))
        if last:
            out.append(f"{last} {initials}".strip())
        elif collective:
            out.append(collective)
    return out


def _abstract(abstract: etree._Element | None) -> str:
    """All AbstractText sections, each prefixed by its Label ("METHODS: ...")."""
    if abstract is None:
        return ""
    parts = []
    for section in abstract.findall("AbstractText"):
        text = clean_text(_text(section))
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
    return _text(pub_date.find("Year")) or find_year(_text(pub_date.find("MedlineDate")))


def _pages(pagination: etree._Element | None) -> str:
    """MedlinePgn as given ("221-8"), else StartPage-EndPage."""
    if pagination is None:
        return ""
    pgn = _text(pagination.find("MedlinePgn"))
    if pgn:
        return pgn
    start, end = _text(pagination.find("StartPage")), _text(pagination.find("EndPage"))
    return f"{start}-{end}" if start and end else start


def _registrations(article: etree._Element | None, texts: list[str]) -> list[str]:
    """Trial registry accession numbers from DataBankList plus registry ids found in the texts."""
    regs: list[str] = []
    if article is not None:
        for bank in article.findall("DataBankList/DataBank"):
            name = _text(bank.find("DataBankName")).lower()
            if name in REGISTRY_DATABANKS:
                regs.extend(_text(a) for a in bank.findall("AccessionNumberList/AccessionNumber"))
    regs.extend(find_registrations(texts))
    return list(unique(regs))


def _article_record(elem: etree._Element, *, database: str, run_id: str, source_file: str, ordinal: int) -> Record:
    """Map one <PubmedArticle> to a Record."""
    citation = elem.find("MedlineCitation")
    if citation is None:
        raise InputFormatError(
            "PubmedArticle without MedlineCitation",
            where=f"{source_file}:{elem.sourceline}",
            fix="re-export the file from PubMed (it is not PubMed XML as efetch writes it)",
        )
    article = citation.find("Article")
    pmid = _text(citation.find("PMID"))
    doi = ""
    for aid in elem.findall("PubmedData/ArticleIdList/ArticleId"):
        if aid.get("IdType") == "doi":
            doi = normalise_doi(_text(aid))
            if doi:
                break
    title = abstract = journal = abbrev = year = volume = issue = pages = ""
    authors: list[str] = []
    languages: list[str] = []
    pub_types: list[str] = []
    if article is not None:
        if not doi:
            for loc in article.findall("ELocationID"):
                if loc.get("EIdType") == "doi":
                    doi = normalise_doi(_text(loc))
                    if doi:
                        break
        title = clean_text(_first(article, "ArticleTitle", "VernacularTitle"))
        abstract = _abstract(article.find("Abstract"))
        authors = _authors(article.find("AuthorList"))
        journal = clean_text(_text(article.find("Journal/Title")))
        abbrev = _text(article.find("Journal/ISOAbbreviation")) or _text(citation.find("MedlineJournalInfo/MedlineTA"))
        year = _year(article.find("Journal/JournalIssue/PubDate")) or _text(article.find("ArticleDate/Year"))
        volume = _text(article.find("Journal/JournalIssue/Volume"))
        issue = _text(article.find("Journal/JournalIssue/Issue"))
        pages = _pages(article.find("Pagination"))
        languages = [_text(x) for x in article.findall("Language")]
        pub_types = [_text(x) for x in article.findall("PublicationTypeList/PublicationType")]
    mesh = [_text(x) for x in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")]
    keywords = [clean_text(_text(x)) for x in citation.findall("KeywordList/Keyword")]
    registration = _registrations(article, [title, abstract])
    return Record(
        record_id=make_record_id(database, pmid, run_id, ordinal),
        run_id=run_id,
        database=database,
        native_id=pmid,
        pmid=pmid,
        doi=doi,
        title=title,
        abstract=abstract,
        authors=unique(authors),
        journal=journal,
        journal_abbrev=abbrev,
        year=year,
        volume=volume,
        issue=issue,
        pages=pages,
        publication_types=unique(pub_types),
        mesh=unique(mesh),
        keywords=unique(keywords),
        language="; ".join(unique(languages)),
        registration=tuple(registration),
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
        authors=unique(_authors(doc.find("AuthorList"))),
        journal=_text(doc.find("Book/BookTitle")),
        year=_year(doc.find("Book/PubDate")),
        publication_types=unique(_text(x) for x in doc.findall("PublicationType")),
        keywords=unique(_text(x) for x in doc.findall("KeywordList/Keyword")),
        language="; ".join(unique(_text(x) for x in doc.findall("Language"))),
        registration=tuple(find_registrations([title, abstract])),
        source_file=source_file,
        source_line=int(elem.sourceline or 0),
        encoding="utf-8",
    )


def parse_pubmed_xml(
    path: str | os.PathLike[str], *, database: str, run_id: str, source_file: str | None = None
) -> Iterator[Record]:
    """Yield one Record per PubmedArticle / PubmedBookArticle, streaming (memory does not grow with file size).

    Entities are never expanded, no DTD is loaded and nothing is fetched from the network. A malformed
    or truncated file raises InputFormatError naming the file and line.
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
                if elem.tag == "PubmedArticle":
                    record = _article_record(elem, database=database, run_id=run_id, source_file=src, ordinal=ordinal)
                else:
                    record = _book_record(elem, database=database, run_id=run_id, source_file=src, ordinal=ordinal)
                elem.clear(keep_tail=True)
                parent = elem.getparent()
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
                yield record
        except etree.XMLSyntaxError as err:
            line = err.lineno if err.lineno else "?"
            raise InputFormatError(
                f"malformed or truncated PubMed XML ({clean(err.msg)})",
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
