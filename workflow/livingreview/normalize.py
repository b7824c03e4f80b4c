"""Normalisation of identifiers, titles, authors, journals, pages and years for record linkage."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

_DOI_PREFIX = re.compile(r"^(?:(?:https?://)?(?:dx\.)?(?:www\.)?doi\.org/|doi:\s*|doi\s+)", re.IGNORECASE)
_DOI_SHAPE = re.compile(r"10\.\d{4,9}/\S+")
# Punctuation that ends a sentence or a list around a DOI, never the DOI's own last character.
_DOI_TRAILING = ".,;"
# Closing brackets are the DOI's own when they balance an opening one inside it ("10.1016/0006-3223(96)00137-2(x)").
_DOI_BRACKETS = {")": "(", "]": "["}
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")
_YEAR = re.compile(r"(1[89]\d\d|20\d\d)")
_PAGE_RANGE = re.compile(r"^([A-Za-z]*)(\d+)\s*[-\u2010-\u2015]+\s*([A-Za-z]*)(\d+)$")
_INITIALS_TOKEN = re.compile(r"^[A-Z]{1,4}$")
_TAG = re.compile(r"<[^>]+>")
# Transliterated umlauts (ä -> ae, ö -> oe, ü -> ue) in a folded surname: read as the folded letter.
_UMLAUT_TRANSLITERATION = re.compile(r"[aou]e")
_PARENS = re.compile(r"\([^)]*\)")
# Non-ASCII punctuation and spaces that accent folding would drop: mapped to ASCII first.
_ASCII_PUNCT = str.maketrans(
    {
        **{c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"},
        **{c: " " for c in "\u00a0\u2002\u2003\u2009\u200a\u202f\u3000"},
        **{c: "'" for c in "\u2018\u2019\u201b"},
        **{c: '"' for c in "\u201c\u201d"},
        "\u00df": "ss",
        "\u00f8": "o",
        "\u00d8": "O",
        "\u0142": "l",
        "\u0141": "L",
        "\u00e6": "ae",
        "\u00c6": "AE",
    }
)

# Words an NLM abbreviation drops (ISO 4): ignored when comparing journal names.
JOURNAL_STOPWORDS: frozenset[str] = frozenset({"of", "the", "and", "et", "de", "la", "le", "der", "und", "for", "in", "on"})

# DOI prefixes of preprint servers (Research Square, Preprints.org, PsyArXiv/OSF, arXiv, SSRN,
# JMIR Preprints). bioRxiv/medRxiv share 10.1101 with the Cold Spring Harbor journals (10.1101/gad.,
# 10.1101/gr., 10.1101/lm., 10.1101/cshperspect. ...): only their own shapes count (BIORXIV_DOI).
PREPRINT_DOI_PREFIXES: tuple[str, ...] = (
    "10.21203/",
    "10.20944/",
    "10.31234/",
    "10.31219/",
    "10.48550/",
    "10.2139/",
    "10.2196/preprints.",
)
# bioRxiv/medRxiv: 10.1101/YYYY.MM.DD.<number> since December 2019, 10.1101/<6+ digits> before.
BIORXIV_DOI = re.compile(r"^10\.1101/(?:\d{4}\.\d{2}\.\d{2}\.|\d{6,})")


def fold(text: str) -> str:
    """Lower-case ASCII folding: HTML entities and tags decoded/removed, accents stripped."""
    if not text:
        return ""
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_ASCII_PUNCT))
        text = text.encode("ascii", "ignore").decode("ascii")
    return text.lower()


def normalize_doi(value: str | None) -> str:
    """A DOI in stored form: lower case, no URL or ``doi:`` prefix, no trailing punctuation; "" when none.

    A closing bracket at the end is dropped only when it has no opening partner inside the DOI
    ("(doi: 10.1/x)" -> "10.1/x", but "10.1/x(1)" keeps its bracket). The one DOI normaliser:
    parsers store DOIs in this form and record linkage compares them in it.
    """
    if not value:
        return ""
    text = _DOI_PREFIX.sub("", value.strip()).strip()
    match = _DOI_SHAPE.search(text)
    if not match:
        return ""
    doi = match.group(0)
    while doi:
        last = doi[-1]
        if last in _DOI_TRAILING:
            doi = doi[:-1]
        elif last in _DOI_BRACKETS and doi.count(_DOI_BRACKETS[last]) < doi.count(last):
            doi = doi[:-1]
        else:
            break
    return doi.lower()


def normalize_pmid(value: str) -> str:
    """A PMID as digits without leading zeros ("PMID: 0123" -> "123"); "" when none."""
    if not value:
        return ""
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return digits.lstrip("0")


def normalize_title(value: str) -> str:
    """Title folded for case, accents, HTML entities, punctuation, a trailing period and the
    square brackets MEDLINE puts around translated titles; words joined by single spaces."""
    if not value:
        return ""
    text = value.strip()
    if text.startswith("[") and (text.endswith("]") or text.endswith("].")):
        text = text[1 : text.rindex("]")]
    text = fold(text)
    return _NON_ALNUM.sub(" ", text).strip()


@lru_cache(maxsize=1 << 18)
def normalize_author(name: str) -> str:
    """One author as "surname initials" in lower case ASCII.

    Accepts "Surname, A. B.", "Surname, Alice B.", "Surname AB" and "aan het Rot M". German
    umlauts and their transliterations give one key: accents are stripped ("Schönenberg" ->
    "schonenberg") and ae/oe/ue read as a/o/u ("Schoenenberg" -> "schonenberg"); ß is already "ss".
    """
    if not name:
        return ""
    text = name.strip()
    if "&" in text:
        text = html.unescape(text)
    if "," in text:
        surname, given = text.split(",", 1)
        initials = "".join(part[0] for part in re.split(r"[\s.\-]+", given.strip()) if part and part[0].isalpha())
    else:
        tokens = text.split()
        if len(tokens) > 1 and _INITIALS_TOKEN.match(tokens[-1].replace(".", "")):
            surname, initials = " ".join(tokens[:-1]), tokens[-1].replace(".", "")
        elif len(tokens) > 1:  # "Alice B. Surname"
            surname = tokens[-1]
            initials = "".join(t[0] for t in tokens[:-1] if t[0].isalpha())
        else:
            surname, initials = text, ""
    surname_key = _UMLAUT_TRANSLITERATION.sub(lambda m: m.group(0)[0], _NON_ALNUM.sub("", fold(surname)))
    return f"{surname_key} {fold(initials)}".strip()


def first_author_surname(authors: tuple[str, ...] | list[str]) -> str:
    """Folded surname of the first author ("" when there are no authors)."""
    for name in authors:
        key = normalize_author(name)
        if key:
            return key.split(" ", 1)[0]
    return ""


@lru_cache(maxsize=65536)
def normalize_journal(value: str) -> str:
    """Journal name to one comparable form: folded words, stopwords and parenthesised parts
    (place of publication, acronyms) dropped, so a full name and its NLM abbreviation share
    the same word starts ("Journal of Clinical Psychiatry" -> "journal clinical psychiatry")."""
    if not value:
        return ""
    text = _PARENS.sub(" ", fold(value))
    words = [w for w in _NON_ALNUM.sub(" ", text).split() if w not in JOURNAL_STOPWORDS]
    return " ".join(words)


def journal_key(value: str) -> str:
    """The initials of a normalised journal name (a full name and its abbreviation agree)."""
    return "".join(word[0] for word in normalize_journal(value).split())


def journals_match(a: str, b: str) -> bool:
    """True when two normalised journal names are the same journal: word by word, one word is a
    prefix of the other ("j" ~ "journal", "behav" ~ "behavioural")."""
    if a == b:
        return True
    wa, wb = a.split(), b.split()
    if len(wa) != len(wb):
        return False
    return all(x.startswith(y) or y.startswith(x) for x, y in zip(wa, wb))


def expand_pages(value: str) -> str:
    """Expand the first page range: "221-8" -> "221-228", "S195-8" -> "S195-S198"."""
    if not value:
        return ""
    first = value.split(";")[0].split(",")[0].strip()
    match = _PAGE_RANGE.match(first)
    if not match:
        return first
    prefix, start, prefix2, end = match.groups()
    if len(end) < len(start):
        end = start[: len(start) - len(end)] + end
    return f"{prefix}{start}-{prefix2 or prefix}{end}"


def first_page(value: str) -> str:
    """The first page in lower case ("S195-8" -> "s195", "e30919" -> "e30919")."""
    if not value:
        return ""
    first = expand_pages(value)
    return _NON_ALNUM.sub("", first.split("-")[0].lower()).lstrip("0")


def normalize_year(value: str) -> int | None:
    """The first plausible four-digit year in the value (1800-2099), or None."""
    if not value:
        return None
    match = _YEAR.search(str(value))
    return int(match.group(1)) if match else None


def normalize_volume(value: str) -> str:
    """Volume folded to lower-case letters and digits without leading zeros."""
    if not value:
        return ""
    return _NON_ALNUM.sub("", str(value).lower()).lstrip("0")


def is_preprint_doi(doi: str) -> bool:
    """True when a (normalised) DOI belongs to a preprint server (10.1101 only in the bioRxiv/medRxiv
    shapes, not a Cold Spring Harbor journal's DOI)."""
    return bool(doi) and (doi.startswith(PREPRINT_DOI_PREFIXES) or BIORXIV_DOI.match(doi) is not None)
