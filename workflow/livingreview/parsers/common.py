"""Helpers every parser shares: record ids, DOI normalisation, years, trial registry ids."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence

from ..normalize import normalize_doi


# Trial registry identifiers recognised in free text and accession fields.
REGISTRY_PATTERNS: tuple[str, ...] = (
    r"NCT\d{8}",
    r"ISRCTN\d{8}",
    r"ACTRN\d{14}",
    r"ChiCTR[-A-Za-z0-9]{6,}\d",
    r"EUCTR\d{4}-\d{6}-\d{2}",
    r"DRKS\d{8}",
    r"CTRI/\d{4}/\d{2,3}/\d{6}",
    r"IRCT\d{8,}N\d+",
    r"UMIN\d{9}",
    r"jRCT[s]?\d{10}",
    r"PACTR\d{15}",
    r"TCTR\d{11}",
    r"KCT\d{7}",
    r"NTR\d{3,5}",
)
# Cheap substring pre-check before the regular expression (most texts name no registry).
_REGISTRY_PREFIXES: tuple[str, ...] = ("NCT", "ISRCTN", "ACTRN", "ChiCTR", "EUCTR", "DRKS", "CTRI", "IRCT", "UMIN", "jRCT", "PACTR", "TCTR", "KCT", "NTR")
_REGISTRY_PREFIX_RE = re.compile("|".join(_REGISTRY_PREFIXES))
REGISTRY_RE = re.compile(r"\b(?:" + "|".join(REGISTRY_PATTERNS) + r")\b")
# Names PubMed uses in DataBankList for trial registries (other data banks, e.g. GenBank, are not registrations).
REGISTRY_DATABANKS: frozenset[str] = frozenset(
    {
        "anzctr", "chictr", "cris", "clinicaltrials.gov", "ctri", "drks", "eudract", "irct", "isrctn",
        "japiccti", "jmacct", "jrct", "jprn", "ntr", "pactr", "rebec", "repec", "rpcec", "slctr", "tctr",
        "umin ctr", "umin-ctr",
    }
)
# The one DOI normaliser (normalize.normalize_doi), under the name the parsers import.
normalise_doi = normalize_doi
_YEAR_RE = re.compile(r"\b(1[6-9]\d\d|20\d\d)\b")
# Inline markup that exports leave in text fields ("<i>in vivo</i>", "H<sub>2</sub>O"), removed from titles and abstracts.
_INLINE_TAG_RE = re.compile(r"</?(?:i|b|u|em|strong|sup|sub|sc|span|p|br|mml:[a-z]+)(?:\s[^<>]*)?/?>", re.IGNORECASE)


def clean(text: str | None) -> str:
    """Collapse runs of whitespace (including newlines and tabs) to one space and strip."""
    if not text:
        return ""
    # Fast path (most fields): printable ASCII without double, leading or trailing spaces is already clean.
    if text.isascii() and text.isprintable() and "  " not in text and text[0] != " " and text[-1] != " ":
        return text
    return " ".join(text.split())


def clean_text(text: str | None) -> str:
    """Free text (title, abstract, journal) as stored: HTML entities decoded, inline markup tags removed, whitespace collapsed."""
    if not text:
        return ""
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _INLINE_TAG_RE.sub("", text)
    return clean(text)


def first_value(fields: Mapping[str, Sequence[str]], *tags: str) -> str:
    """The first non-empty cleaned value of the first tag that has one, in the order given ("" if none).

    ``fields`` maps a tag (MEDLINE "TI", RIS "T1", ...) to its values in file order.
    """
    for tag in tags:
        for value in fields.get(tag, ()):
            text = clean(value)
            if text:
                return text
    return ""


def find_year(value: str | None) -> str:
    """The first plausible four-digit year in a date string ("2014 Jun", "2013 Dec-2014 Jan"), else ""."""
    match = _YEAR_RE.search(value or "")
    return match.group(1) if match else ""


def find_registrations(texts: Iterable[str]) -> list[str]:
    """Trial registry ids found in the texts, in first-seen order, without repeats."""
    seen: dict[str, None] = {}
    for text in texts:
        if text and _REGISTRY_PREFIX_RE.search(text):
            for match in REGISTRY_RE.finditer(text):
                seen.setdefault(match.group(0), None)
    return list(seen)


def unique(values: Iterable[str]) -> tuple[str, ...]:
    """Non-empty cleaned values in first-seen order without repeats."""
    seen: dict[str, None] = {}
    for v in values:
        c = clean(v)
        if c:
            seen.setdefault(c, None)
    return tuple(seen)


def dedupe(values: Iterable[str]) -> tuple[str, ...]:
    """Non-empty values (already cleaned) in first-seen order without repeats."""
    seen = dict.fromkeys(values)
    seen.pop("", None)
    return tuple(seen)


def make_record_id(database: str, native_id: str, run_id: str, ordinal: int) -> str:
    """``<database>:<native id>``, or ``<database>:<run_id>#<ordinal>`` when the export gave no id."""
    native = clean(native_id)
    if native:
        prefix = f"{database}:"
        return native if native.startswith(prefix) else f"{prefix}{native}"
    return f"{database}:{run_id}#{ordinal}"
