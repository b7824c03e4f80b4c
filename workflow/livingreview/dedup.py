"""Deduplication: normalise, block, compare with rapidfuzz, cluster with guarded union-find, merge."""

from __future__ import annotations

import hashlib
import logging
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA
from rapidfuzz.process import cdist, cpdist

from .constants import (
    CLUSTER_FIELDS,
    DATABASES,
    LEDGER_FIELDS,
    MAYBE_PAIR_FIELDS,
    OUTCOME_CANONICAL,
    OUTCOME_DUPLICATE,
    RECORD_FIELDS,
    REGISTERS,
)
from .dedup_decisions import (  # all its names stay importable from livingreview.dedup (F401: re-exported)
    DECISION_KEEP_APART,
    DECISION_LINK,
    DECISION_VALUES,  # noqa: F401
    DEDUP_DECISIONS_SCHEMA,  # noqa: F401
    DedupDecision,
    check_decision_contradictions,
    load_dedup_decisions,  # noqa: F401
)
from .errors import ConfigError, InputFormatError, ReconciliationError
from .gcpause import collector_paused
from .normalize import (
    first_author_surname,
    first_page,
    is_preprint_doi,
    journals_match,
    normalize_author,
    normalize_doi,
    normalize_journal,
    normalize_pmid,
    normalize_title,
    normalize_volume,
    normalize_year,
)
from .records import Record, read_records_table
from .runs import run_sort_key
from .tables import read_tsv, read_tsv_cells, write_tsv

LOG = logging.getLogger(__name__)

CANONICAL_FIELDS: tuple[str, ...] = (*RECORD_FIELDS, "cluster_id")
PROVENANCE_FIELDS: tuple[str, ...] = ("cluster_id", "field", "value_from")
DEDUP_STAGE = "dedup"

# Rule ids written to clusters.tsv / the ledger besides the fuzzy rules below.
RULE_HUMAN = "human_link"
RULE_PMID = "pmid"
RULE_DOI = "doi"
RULE_CANONICAL = "canonical"
RULE_UNIQUE = "unique"

# Fields of a record that say where it came from: never filled from another member.
IDENTITY_FIELDS: frozenset[str] = frozenset(
    {"record_id", "run_id", "database", "native_id", "source_file", "source_line", "encoding"}
)

# Record kinds: records of different kinds are separate reports and never linked automatically.
KIND_PUBLICATION = "publication"
KIND_REGISTRATION = "registration"
KIND_ERRATUM = "erratum"
KIND_RETRACTION = "retraction"
KIND_PREPRINT = "preprint"
KIND_ABSTRACT = "conference_abstract"
ERRATUM_TYPES: frozenset[str] = frozenset(
    {"erratum", "published erratum", "correction", "corrigendum", "errata", "correction notice"}
)
# A retraction NOTICE is a report of its own; a retracted ARTICLE ("Retracted Publication" in
# MEDLINE, "RETRACTED ARTICLE: <title>" at Springer, "RETRACTED: <title>" at Elsevier) is the publication.
RETRACTION_TYPES: frozenset[str] = frozenset({"retraction of publication", "retraction notice", "retraction"})
RETRACTED_ARTICLE_TYPES: frozenset[str] = frozenset({"retracted publication", "retracted article"})
PREPRINT_TYPES: frozenset[str] = frozenset({"preprint"})
ABSTRACT_TYPES: frozenset[str] = frozenset(
    {"conference abstract", "meeting abstract", "congress", "conference review", "conference proceeding", "abstract"}
)
_ERRATUM_TITLE = re.compile(r"^\s*(?:erratum|errata|corrigendum|correction|corrections|notice of correction)\b", re.IGNORECASE)
_RETRACTION_TITLE = re.compile(r"^\s*(?:retraction|notice of retraction|statement of retraction|withdrawn)\b", re.IGNORECASE)
# The retracted article's own title prefix ("RETRACTED ARTICLE: ", "RETRACTED: ", "[Retracted] "):
# dropped from the title compared, so the article still matches its unmarked copies.
_RETRACTED_ARTICLE_TITLE = re.compile(
    r"^\s*(?:\[\s*retracted(?:\s+article)?\s*\]|retracted(?:\s+(?:article|publication|paper))?\s*[:.]|retracted\s+article\b)[\s:.\-]*",
    re.IGNORECASE,
)
_PREPRINT_SOURCE = re.compile(r"rxiv|preprint|research square|ssrn", re.IGNORECASE)
_REGISTRY_ID = re.compile(r"^(?:NCT\d{8}|ACTRN\d{14}|ISRCTN\d+|EUCTR[\w-]+|DRKS\d+|ChiCTR[\w-]+|IRCT[\w-]+|CTRI/[\w/-]+)$", re.IGNORECASE)
_ROMAN_OR_NUMBER = re.compile(r"^(?:\d+|i{1,3}|iv|v|vi{1,3}|ix|x)$")

# Words of 4+ letters that do not make two titles different papers (for the title_words feature).
TITLE_STOPWORDS: frozenset[str] = frozenset(
    {"with", "from", "that", "this", "these", "those", "into", "than", "their", "there", "after", "among", "during",
     "versus", "between", "within", "without", "about", "over", "under", "upon", "what", "when", "which", "whether",
     "does", "have", "were", "been", "being", "more", "less", "both", "each", "other", "such", "then", "they",
     "them", "also", "only", "some"}
)

# Similarity bands (0-1).
MAYBE_LOW = 0.85  # candidate pairs with a title this close and not linked go to maybe_pairs.tsv
BLOCK_CAP = 64  # a block larger than this is compared with cdist + cutoff instead of all pairs


@dataclass(frozen=True, slots=True)
class MatchRule:
    """One fuzzy linking rule: every condition must hold. Conditions are (feature, op, value)."""

    id: str
    description: str
    conditions: tuple[tuple[str, str, Any], ...]


# Pair features (computed by ``pair_features``):
#   title         similarity of normalised titles (0-1, rapidfuzz ratio)
#   title_length  long | short (both normalised titles at least LONG_TITLE characters)
#   title_numbers same | differ: numbers / roman numerals in the titles ("part ii", "2-year follow-up")
#   title_words   same | typo | differ: content words (4+ letters, not TITLE_STOPWORDS) of one title missing
#                 from the other; typo = each such word is one edit (or one swap of two letters) from a
#                 word of the other ("randomised" ~ "randomized"); differ = a word of its own
#                 ("Esketamine" for "Ketamine"). Titles one edit apart without spaces are typo.
#                 The rules that need no volume or page agreement (F3, F4) require same or typo.
#   year          same | adjacent | differ | missing (adjacent = one year apart: online vs print)
#   first_author  same | differ | missing (folded surname of the first author)
#   authors       similarity of "surname initials" lists (0-1, token set ratio); None when missing
#   journal       same | differ | missing (full name and NLM abbreviation agree word by word)
#   volume, page  same | differ | missing (first page after expanding "221-8")
MATCH_RULES: tuple[MatchRule, ...] = (
    MatchRule(
        "F1",
        "title >= 0.95, year same or adjacent, same first author, same first page, volume not contradicting",
        (
            ("title", ">=", 0.95),
            ("title_numbers", "in", ("same",)),
            ("year", "in", ("same", "adjacent")),
            ("first_author", "in", ("same",)),
            ("page", "in", ("same",)),
            ("volume", "in", ("same", "missing")),
        ),
    ),
    MatchRule(
        "F2",
        "title >= 0.95, year same or adjacent, same first author, same journal and volume, page missing",
        (
            ("title", ">=", 0.95),
            ("title_numbers", "in", ("same",)),
            ("year", "in", ("same", "adjacent")),
            ("first_author", "in", ("same",)),
            ("journal", "in", ("same",)),
            ("volume", "in", ("same",)),
            ("page", "in", ("missing",)),
        ),
    ),
    MatchRule(
        "F3",
        "title >= 0.98 with the same content words, year same or adjacent, same first author, journal/volume/page not contradicting",
        (
            ("title", ">=", 0.98),
            ("title_numbers", "in", ("same",)),
            ("title_words", "in", ("same", "typo")),
            ("year", "in", ("same", "adjacent")),
            ("first_author", "in", ("same",)),
            ("journal", "in", ("same", "missing")),
            ("volume", "in", ("same", "missing")),
            ("page", "in", ("same", "missing")),
        ),
    ),
    MatchRule(
        "F4",
        "title >= 0.98 with the same content words, same year and journal, authors missing on one side, volume/page not contradicting",
        (
            ("title", ">=", 0.98),
            ("title_numbers", "in", ("same",)),
            ("title_words", "in", ("same", "typo")),
            ("year", "in", ("same",)),
            ("first_author", "in", ("missing",)),
            ("journal", "in", ("same",)),
            ("volume", "in", ("same", "missing")),
            ("page", "in", ("same", "missing")),
        ),
    ),
    MatchRule(
        "F5",
        "title >= 0.88 (typos), year same or adjacent, authors >= 0.9, same journal, volume and first page",
        (
            ("title", ">=", 0.88),
            ("title_numbers", "in", ("same",)),
            ("year", "in", ("same", "adjacent")),
            ("first_author", "in", ("same",)),
            ("authors", ">=", 0.9),
            ("journal", "in", ("same",)),
            ("volume", "in", ("same",)),
            ("page", "in", ("same",)),
        ),
    ),
    MatchRule(
        "F6",
        "title >= 0.95, authors missing on one side, year same or adjacent, same journal, volume and first page",
        (
            ("title", ">=", 0.95),
            ("title_numbers", "in", ("same",)),
            ("year", "in", ("same", "adjacent")),
            ("first_author", "in", ("missing",)),
            ("journal", "in", ("same",)),
            ("volume", "in", ("same",)),
            ("page", "in", ("same",)),
        ),
    ),
    MatchRule(
        "F7",
        "long title (>= 60 characters) identical after normalisation, same journal, nothing contradicting",
        (
            ("title", ">=", 1.0),
            ("title_length", "in", ("long",)),
            ("title_numbers", "in", ("same",)),
            ("year", "in", ("same", "adjacent", "missing")),
            ("first_author", "in", ("same", "missing")),
            ("journal", "in", ("same",)),
            ("volume", "in", ("same", "missing")),
            ("page", "in", ("same", "missing")),
        ),
    ),
)
LONG_TITLE = 60  # normalised characters: shorter identical titles ("Editorial", "Reply") are not enough
RULE_ORDER: dict[str, int] = {RULE_HUMAN: 0, RULE_PMID: 1, RULE_DOI: 2, **{r.id: 3 + i for i, r in enumerate(MATCH_RULES)}}


@dataclass(slots=True)
class DedupResult:
    """Everything the dedup stage writes."""

    clusters: list[dict[str, Any]]  # CLUSTER_FIELDS, sorted by record_id
    maybe_pairs: list[dict[str, Any]]  # MAYBE_PAIR_FIELDS
    canonical: list[dict[str, Any]]  # CANONICAL_FIELDS, one merged record per cluster
    provenance: list[dict[str, Any]]  # PROVENANCE_FIELDS
    ledger: list[dict[str, Any]]  # LEDGER_FIELDS, stage dedup
    cluster_of: dict[str, str] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        """Number of clusters (= canonical records)."""
        return len(self.canonical)


@dataclass(slots=True)
class _Prepared:
    """Normalised comparison fields, one list entry per record."""

    ids: list[str]
    title: list[str]
    doi: list[str]
    pmid: list[str]
    year: list[int | None]
    first_author: list[str]
    authors: list[str]
    journal: list[str]
    volume: list[str]
    page: list[str]
    kind: list[str]
    registry_id: list[str]


def record_kind(record: Record, *, doi: str | None = None) -> str:
    """What kind of report a record is, read only from what a database record holds."""
    if record.database in REGISTERS:
        return KIND_REGISTRATION
    if not record.journal and _REGISTRY_ID.match(record.native_id or ""):
        return KIND_REGISTRATION
    types = {t.strip().lower() for t in record.publication_types}
    title = record.title or ""
    if types & ERRATUM_TYPES or _ERRATUM_TITLE.match(title):
        return KIND_ERRATUM
    if types & RETRACTION_TYPES:
        return KIND_RETRACTION
    retracted_article = bool(types & RETRACTED_ARTICLE_TYPES) or bool(_RETRACTED_ARTICLE_TITLE.match(title))
    if not retracted_article and _RETRACTION_TITLE.match(title):
        return KIND_RETRACTION
    doi = normalize_doi(record.doi) if doi is None else doi
    if types & PREPRINT_TYPES or is_preprint_doi(doi) or _PREPRINT_SOURCE.search(record.journal or ""):
        return KIND_PREPRINT
    if types & ABSTRACT_TYPES:
        return KIND_ABSTRACT
    return KIND_PUBLICATION


def _prepare(records: Sequence[Record]) -> _Prepared:
    """Normalise the comparison fields of every record."""
    p = _Prepared([], [], [], [], [], [], [], [], [], [], [], [])
    for rec in records:
        doi = normalize_doi(rec.doi)
        kind = record_kind(rec, doi=doi)
        title = rec.title or ""
        if kind != KIND_RETRACTION:  # a retracted article is compared without its "RETRACTED ARTICLE: " mark
            title = _RETRACTED_ARTICLE_TITLE.sub("", title, count=1)
        p.ids.append(rec.record_id)
        p.title.append(normalize_title(title))
        p.doi.append(doi)
        p.pmid.append(normalize_pmid(rec.pmid))
        p.year.append(normalize_year(rec.year))
        p.first_author.append(first_author_surname(rec.authors))
        p.authors.append(" ".join(normalize_author(a).replace(" ", "_") for a in rec.authors))
        p.journal.append(normalize_journal(rec.journal_abbrev or rec.journal))
        p.volume.append(normalize_volume(rec.volume))
        p.page.append(first_page(rec.pages))
        p.kind.append(kind)
        p.registry_id.append((rec.native_id or rec.record_id.split(":", 1)[-1]).upper() if kind == KIND_REGISTRATION else "")
    return p


# --- blocking ---------------------------------------------------------------------------------


def _block_keys(p: _Prepared) -> list[list[str]]:
    """Blocking keys per pass ("" = record not blocked in that pass)."""
    compact = [t.replace(" ", "") for t in p.title]
    prefix = [c[:16] if len(c) >= 8 else "" for c in compact]
    suffix = [c[-16:] if len(c) >= 24 else "" for c in compact]
    author_year = [f"{a}|{y}" if a and y else "" for a, y in zip(p.first_author, p.year)]
    author_page = [f"{a}|{pg}" if a and pg else "" for a, pg in zip(p.first_author, p.page)]
    return [prefix, suffix, author_year, author_page]


def _pairs_in_blocks(keys: list[str], titles: list[str], *, workers: int, cutoff: int) -> np.ndarray:
    """Candidate pairs (i < j) sharing a key; blocks above BLOCK_CAP are pre-filtered with cdist."""
    code_of: dict[str, int] = {}  # key -> code, numbered in order of first appearance
    codes = np.asarray([code_of.setdefault(k, len(code_of)) for k in keys], dtype=np.int64)
    empty = np.asarray([k == "" for k in keys], dtype=bool)
    codes[empty] = -1
    valid = np.flatnonzero(codes >= 0)
    if valid.size < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = valid[np.argsort(codes[valid], kind="stable")]
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, sorted_codes.size])
    out: list[np.ndarray] = []
    # Small blocks: all pairs, vectorised.
    small = (sizes >= 2) & (sizes <= BLOCK_CAP)
    if small.any():
        group_size = np.repeat(np.where(small, sizes, 0), sizes)
        pos_in_group = np.arange(sorted_codes.size) - np.repeat(starts, sizes)
        count = np.where(group_size > 0, group_size - 1 - pos_in_group, 0)
        total = int(count.sum())
        left_pos = np.repeat(np.arange(sorted_codes.size), count)
        offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count) + 1
        right_pos = left_pos + offsets
        out.append(np.stack([order[left_pos], order[right_pos]], axis=1))
    # Large blocks: cdist with a cutoff, keep the upper triangle. The cutoff is one point below the
    # band so that this is only a pre-filter: cdist drops a raw 84.7 that cpdist (rounding) scores 85,
    # and the final cpdist filter must decide alone, whatever the block size (incremental runs see
    # smaller blocks than a full run).
    for start, size in zip(starts[sizes > BLOCK_CAP], sizes[sizes > BLOCK_CAP]):
        members = order[start : start + size]
        block_titles = [titles[i] for i in members]
        scores = cdist(block_titles, block_titles, scorer=fuzz.ratio, score_cutoff=cutoff - 1, dtype=np.uint8, workers=workers)
        ii, jj = np.nonzero(np.triu(scores, k=1))
        out.append(np.stack([members[ii], members[jj]], axis=1))
    if not out:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(out).astype(np.int64)
    return np.sort(pairs, axis=1)


def shard_of(pass_index: int, key: str, n_shards: int) -> int:
    """The shard (0-based) that compares the block ``key`` of blocking pass ``pass_index``: a stable
    hash (CRC-32 of "pass|key"), the same on every machine and Python run."""
    return zlib.crc32(f"{pass_index}|{key}".encode("utf-8")) % n_shards


def _shard_keys(keys: list[str], pass_index: int, *, shard: int, n_shards: int, new: Sequence[bool] | None = None) -> list[str]:
    """The keys of one pass with every block not belonging to ``shard`` blanked (not blocked), and,
    when ``new`` is given, every block holding no new record blanked too."""
    if n_shards <= 1 and new is None:
        return keys
    with_new = {k for k, is_new in zip(keys, new) if is_new and k} if new is not None else None
    mine: dict[str, bool] = {}
    out: list[str] = []
    for k in keys:
        if not k:
            out.append("")
            continue
        keep = mine.get(k)
        if keep is None:
            keep = (n_shards <= 1 or shard_of(pass_index, k, n_shards) == shard) and (with_new is None or k in with_new)
            mine[k] = keep
        out.append(k if keep else "")
    return out


def candidate_pairs(
    p: _Prepared, *, workers: int = 1, shard: int = 0, n_shards: int = 1, new: Sequence[bool] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Unique candidate pairs from all blocking passes with their title similarity (0-100),
    keeping only pairs at or above the maybe band.

    With ``n_shards`` > 1 only the blocks whose key hashes to ``shard`` (see ``shard_of``) are
    compared; the union over all shards is the unsharded result (a whole block is always in one shard).
    With ``new`` (one flag per record) only pairs with at least one new record are kept: the pairs
    a run adds to those of earlier runs (a pair is a candidate when its records share a block key and
    its title similarity is in the band, whatever else is in the block).
    """
    if not 0 <= shard < max(n_shards, 1):
        raise ValueError(f"shard {shard} is outside 0..{n_shards - 1}")
    cutoff = int(MAYBE_LOW * 100)
    chunks = [
        _pairs_in_blocks(_shard_keys(keys, k, shard=shard, n_shards=n_shards, new=new), p.title, workers=workers, cutoff=cutoff)
        for k, keys in enumerate(_block_keys(p))
    ]
    pairs = np.concatenate(chunks) if chunks else np.empty((0, 2), dtype=np.int64)
    if new is not None and pairs.size:
        flags = np.asarray(new, dtype=bool)
        pairs = pairs[flags[pairs[:, 0]] | flags[pairs[:, 1]]]
    if pairs.size == 0:
        return pairs, np.empty(0, dtype=np.uint8)
    n = len(p.ids)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    pairs = np.stack([codes // n, codes % n], axis=1)
    left = [p.title[i] for i in pairs[:, 0]]
    right = [p.title[j] for j in pairs[:, 1]]
    scores = cpdist(left, right, scorer=fuzz.ratio, dtype=np.uint8, workers=workers)
    keep = scores >= cutoff
    return pairs[keep], scores[keep]


# --- pair features and rules ----------------------------------------------------------------


def _cat(a: str, b: str) -> str:
    if not a or not b:
        return "missing"
    return "same" if a == b else "differ"


def _title_numbers(title: str) -> frozenset[str]:
    return frozenset(w for w in title.split() if _ROMAN_OR_NUMBER.match(w))


def _content_word(word: str) -> bool:
    return len(word) >= 4 and word not in TITLE_STOPWORDS and not word.isdigit()


def title_words(a: str, b: str) -> str:
    """Whether two normalised titles have the same content words: "same", "typo" (the titles are one
    edit apart without their spaces, or every differing content word is one edit, or one swap of two
    letters, from a differing word of the other title: a typo or a spelling variant) or "differ" (a
    content word of its own: "esketamine" for "ketamine")."""
    compact_a, compact_b = a.replace(" ", ""), b.replace(" ", "")
    if compact_a == compact_b:  # spacing and hyphenation ("post-traumatic")
        return "same"
    if OSA.distance(compact_a, compact_b, score_cutoff=1) <= 1:  # one typo, a space typed as a letter included
        return "typo"
    wa, wb = set(a.split()), set(b.split())
    only_a, only_b = sorted(wa - wb), sorted(wb - wa)
    paired = False
    for word in only_a:
        partner = next((w for w in only_b if OSA.distance(word, w, score_cutoff=1) <= 1), None)
        if partner is not None:
            only_b.remove(partner)
            paired = paired or _content_word(word) or _content_word(partner)
        elif _content_word(word):
            return "differ"
    if any(_content_word(w) for w in only_b):
        return "differ"
    return "typo" if paired else "same"


def pair_features(p: _Prepared, i: int, j: int, title_score: float) -> dict[str, Any]:
    """Comparison features of records i and j (see MATCH_RULES for their meaning)."""
    ya, yb = p.year[i], p.year[j]
    if ya is None or yb is None:
        year = "missing"
    else:
        year = "same" if ya == yb else "adjacent" if abs(ya - yb) == 1 else "differ"
    ja, jb = p.journal[i], p.journal[j]
    journal = "missing" if not ja or not jb else "same" if journals_match(ja, jb) else "differ"
    aa, ab = p.authors[i], p.authors[j]
    authors = fuzz.token_set_ratio(aa, ab) / 100.0 if aa and ab else None
    return {
        "title": title_score,
        "title_length": "long" if min(len(p.title[i]), len(p.title[j])) >= LONG_TITLE else "short",
        "title_numbers": "same" if _title_numbers(p.title[i]) == _title_numbers(p.title[j]) else "differ",
        "title_words": title_words(p.title[i], p.title[j]),
        "year": year,
        "first_author": _cat(p.first_author[i], p.first_author[j]),
        "authors": authors,
        "journal": journal,
        "volume": _cat(p.volume[i], p.volume[j]),
        "page": _cat(p.page[i], p.page[j]),
    }


def _holds(features: Mapping[str, Any], condition: tuple[str, str, Any]) -> bool:
    name, op, value = condition
    actual = features.get(name)
    if op == "in":
        return actual in value
    if actual is None:
        return False
    if op == ">=":
        return actual >= value
    if op == "<=":
        return actual <= value
    raise ValueError(f"unknown operator {op!r} in a match rule")


def first_matching_rule(features: Mapping[str, Any]) -> MatchRule | None:
    """The first rule of MATCH_RULES whose conditions all hold, or None."""
    for rule in MATCH_RULES:
        if all(_holds(features, c) for c in rule.conditions):
            return rule
    return None


def _describe(features: Mapping[str, Any]) -> str:
    parts = []
    for name, value in features.items():
        parts.append(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}")
    return "; ".join(parts)


# --- union-find with guards -----------------------------------------------------------------


# A cluster's values of one field: "" (none), one value, or a frozenset of two or more (after a
# person linked records that differ in it). One str per record keeps a million clusters small.
_Values = str | frozenset[str]


def _as_set(values: _Values) -> frozenset[str]:
    return values if isinstance(values, frozenset) else frozenset((values,)) if values else frozenset()


def _disjoint(a: _Values, b: _Values) -> bool:
    """True when both clusters hold values and share none of them."""
    if not a or not b:
        return False
    if isinstance(a, str) and isinstance(b, str):
        return a != b
    return _as_set(a).isdisjoint(_as_set(b))


def _joined(a: _Values, b: _Values) -> _Values:
    if not b or a == b:
        return a
    if not a:
        return b
    return _as_set(a) | _as_set(b)


def _label(values: _Values) -> str:
    return values if isinstance(values, str) else "+".join(sorted(values))


EARLIER_CLUSTERS = "would join two clusters of earlier runs"


class _GuardedUnionFind:
    """Union-find that refuses a merge of two clusters that both hold DOIs, PMIDs, registry ids or
    kinds of report and share none of them (each cluster keeps the set of its members' values), or
    that would put two records a person kept apart in one cluster.

    Sets matter after a person's ``link``: a cluster holding two DOIs (or a publication and its
    conference abstract) still takes a record that agrees with any of its members.

    ``phase`` (per record: the rank of its search run, 0 = oldest) makes updates append-only: a link
    is made in the phase of its later record, and a merge of two clusters that both already hold
    records of earlier runs is refused, so a record of a new run joins at most one earlier cluster
    and earlier clusters (their members and ids) never change. Without ``phase`` all records are
    one run."""

    def __init__(self, p: _Prepared, keep_apart: Iterable[tuple[int, int]], phase: Sequence[int] | None = None) -> None:
        n = len(p.ids)
        self.parent = list(range(n))
        self.size = [1] * n
        self.phase: list[int] = list(phase) if phase is not None else [0] * n
        self.first: list[int] = list(self.phase)  # per root: the earliest phase of its members
        self.doi: list[_Values] = list(p.doi)
        self.pmid: list[_Values] = list(p.pmid)
        self.kind: list[_Values] = list(p.kind)
        self.registry_id: list[_Values] = list(p.registry_id)
        self.apart: dict[int, set[int]] = {}
        for a, b in keep_apart:
            self.apart.setdefault(a, set()).add(b)
            self.apart.setdefault(b, set()).add(a)

    def find(self, x: int) -> int:
        """Root of x (path halving)."""
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def conflict(self, a: int, b: int) -> str:
        """Why a and b may not share a cluster ("" when they may)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ""
        if _disjoint(self.doi[ra], self.doi[rb]):
            return "different DOIs"
        if _disjoint(self.pmid[ra], self.pmid[rb]):
            return "different PMIDs"
        if _disjoint(self.registry_id[ra], self.registry_id[rb]):
            return "different registrations"
        if _disjoint(self.kind[ra], self.kind[rb]):
            return f"{_label(self.kind[ra])} vs {_label(self.kind[rb])}"
        now = max(self.phase[a], self.phase[b])
        if self.first[ra] < now and self.first[rb] < now:
            return EARLIER_CLUSTERS
        if self.apart:
            for x, partners in self.apart.items():
                rx = self.find(x)
                if rx in (ra, rb) and any(self.find(y) == (rb if rx == ra else ra) for y in partners):
                    return "kept apart by a person"
        return ""

    def union(self, a: int, b: int, *, force: bool = False) -> str:
        """Merge the clusters of a and b; returns the refusal reason ("" when merged)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ""
        if not force:
            reason = self.conflict(a, b)
            if reason:
                return reason
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        for values in (self.doi, self.pmid, self.registry_id, self.kind):
            values[ra] = _joined(values[ra], values[rb])
        self.first[ra] = min(self.first[ra], self.first[rb])
        return ""


def _check_decisions(decisions: Sequence[DedupDecision], index: Mapping[str, int]) -> None:
    for d in decisions:
        for rid in (d.record_a, d.record_b):
            if rid not in index:
                raise ConfigError(
                    f"record {rid} is not in the records being deduplicated",
                    where=d.where,
                    fix="check the record_id against results/records/records.tsv or delete the row",
                )


# --- cluster ids, canonical record, merge ------------------------------------------------------


def cluster_id_for(record_id: str) -> str:
    """The cluster id anchored on a record: stable as long as that record is in the cluster."""
    return "c" + hashlib.sha1(record_id.encode("utf-8")).hexdigest()[:10]


def _db_rank(database: str) -> int:
    return DATABASES.index(database) if database in DATABASES else len(DATABASES)


def _previous_anchors(previous_clusters: Sequence[Mapping[str, str]], records: Sequence[Record]) -> dict[str, str]:
    """record_id -> previous cluster id, for the earliest member (run_id, record_id) of each
    previous cluster still present."""
    runs = {r.record_id: r.run_id for r in records}
    best: dict[str, tuple[str, str]] = {}
    for row in previous_clusters:
        rid, cid = row.get("record_id", ""), row.get("cluster_id", "")
        if not rid or not cid or rid not in runs:
            continue
        key = (runs[rid], rid)
        if cid not in best or key < best[cid]:
            best[cid] = key
    return {key[1]: cid for cid, key in best.items()}


def _merge(members: Sequence[Record], cluster_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Merged canonical row (first member = canonical) and its field-level provenance."""
    canonical = members[0]
    row = canonical.to_row()
    others = members[1:]  # read a field at a time, only where the canonical record lacks it
    provenance = []
    own = canonical.record_id
    for name, value in row.items():  # RECORD_FIELDS order
        source = own
        if value in ("", 0):
            if not others or name in IDENTITY_FIELDS:
                continue
            for other in others:
                value = other.cell(name)
                if value not in ("", 0):
                    row[name] = value
                    source = other.record_id
                    break
            else:
                continue
        provenance.append({"cluster_id": cluster_id, "field": name, "value_from": source})
    row["cluster_id"] = cluster_id
    return row, provenance


# --- candidate links (the sharded comparison step) -----------------------------------------------

CANDIDATE_FIELDS: tuple[str, ...] = ("record_a", "record_b", "score", "rule", "evidence")  # evidence: features of a linking pair
_RULES_BY_ID: dict[str, MatchRule] = {r.id: r for r in MATCH_RULES}


def score_pairs(p: _Prepared, pairs: np.ndarray, scores: np.ndarray) -> list[tuple[int, int, float, MatchRule | None]]:
    """(i, j, title similarity 0-1, first matching rule or None) for each candidate pair, in pair order."""
    rows: list[tuple[int, int, float, MatchRule | None]] = []
    for (i, j), s in zip(pairs.tolist(), scores.tolist()):
        rows.append((i, j, s / 100.0, first_matching_rule(pair_features(p, i, j, s / 100.0))))
    return rows


def candidate_rows(
    records: Sequence[Record], *, shard: int = 0, n_shards: int = 1, workers: int = 1, new_run: str | None = None
) -> list[dict[str, Any]]:
    """Candidate links of one shard: every compared pair at or above the maybe band, with its title
    similarity (0-100) and the first matching rule ("" when none), sorted by record order.

    With ``new_run`` only pairs involving a record of that run (``records`` being the records of
    that run and of earlier runs): the union over runs is the result on all records."""
    return _candidate_rows(_prepare(records), [r.run_id for r in records], shard=shard, n_shards=n_shards, workers=workers, new_run=new_run)


def _candidate_rows(p: _Prepared, runs: Sequence[str], *, shard: int, n_shards: int, workers: int, new_run: str | None) -> list[dict[str, Any]]:
    """Candidate-link rows of prepared records (``runs`` = run_id per record; see candidate_rows)."""
    new = [r == new_run for r in runs] if new_run is not None else None
    pairs, scores = candidate_pairs(p, workers=workers, shard=shard, n_shards=n_shards, new=new)
    if pairs.size:
        # Each pair in record_id order, as the one-job dedup (records sorted by record_id) compares it.
        ids = np.asarray(p.ids, dtype=object)
        flip = ids[pairs[:, 0]] > ids[pairs[:, 1]]
        pairs[flip] = pairs[flip][:, ::-1]
    return [
        {
            "record_a": p.ids[i],
            "record_b": p.ids[j],
            "score": round(s * 100),
            "rule": rule.id if rule else "",
            "evidence": _describe(pair_features(p, i, j, s)) if rule else "",
        }
        for i, j, s, rule in score_pairs(p, pairs, scores)
    ]


# The blocking index of a run: every normalised comparison field of its records (one job per run,
# never redone when later runs are added).
INDEX_FIELDS: tuple[str, ...] = (
    "record_id", "run_id", "title", "doi", "pmid", "year", "first_author", "authors", "journal", "volume", "page", "kind", "registry_id",
)


def index_rows(records: Sequence[Record]) -> list[dict[str, Any]]:
    """The blocking-index rows (INDEX_FIELDS) of ``records``, in record order."""
    p = _prepare(records)
    return [
        {
            "record_id": p.ids[k], "run_id": rec.run_id, "title": p.title[k], "doi": p.doi[k], "pmid": p.pmid[k], "year": p.year[k],
            "first_author": p.first_author[k], "authors": p.authors[k], "journal": p.journal[k], "volume": p.volume[k],
            "page": p.page[k], "kind": p.kind[k], "registry_id": p.registry_id[k],
        }
        for k, rec in enumerate(records)
    ]


def _prepared_from_index(rows: Sequence[Mapping[str, str]]) -> _Prepared:
    """A _Prepared rebuilt from blocking-index rows (the inverse of ``index_rows``): ``_prepared_from_columns``
    of their cells. Rows as dicts come only from callers holding ``index_rows`` (the stages read IndexColumns)."""
    return _prepared_from_columns({name: [row[name] for row in rows] for name in INDEX_FIELDS if name != "run_id"})


@dataclass(frozen=True, slots=True)
class IndexColumns:
    """Blocking-index rows as columns: INDEX_FIELDS name -> the cells of every row, in row order
    (read_index_columns). ``deduplicate(index_rows_in=...)`` takes it as it takes the rows."""

    columns: dict[str, list[str]]


def read_index_columns(paths: Iterable[str | Path]) -> IndexColumns:
    """The rows of the blocking-index files, in file and line order, as columns: what
    ``[row for path in paths for row in read_tsv(path, required=INDEX_FIELDS)]`` holds (same checks
    and errors, each file read whole before the next), without a dict per row."""
    columns: dict[str, list[str]] = {name: [] for name in INDEX_FIELDS}
    for path in paths:
        header, rows = read_tsv_cells(path, required=INDEX_FIELDS)
        table = list(rows)
        if table:
            transposed = list(zip(*table))
            for name in INDEX_FIELDS:
                columns[name].extend(transposed[header.index(name)])
    return IndexColumns(columns)


def _prepared_from_columns(columns: Mapping[str, Sequence[str]], order: Sequence[int] | None = None) -> _Prepared:
    """A _Prepared rebuilt from blocking-index rows given as columns (INDEX_FIELDS name -> cells; run_id
    is not read), taking the rows in ``order`` (default: as they are)."""

    def column(name: str) -> list[str]:
        cells = columns[name]
        return list(cells) if order is None else [cells[k] for k in order]

    return _Prepared(
        ids=column("record_id"), title=column("title"), doi=column("doi"), pmid=column("pmid"),
        year=[int(y) if y else None for y in column("year")], first_author=column("first_author"), authors=column("authors"),
        journal=column("journal"), volume=column("volume"), page=column("page"), kind=column("kind"), registry_id=column("registry_id"),
    )


def _prepared_in_order(rows: Iterable[Mapping[str, str]] | IndexColumns, records: Sequence[Record]) -> _Prepared:
    """The blocking-index rows of ``records``, in their order, as a _Prepared."""
    if isinstance(rows, IndexColumns):
        position = {rid: k for k, rid in enumerate(rows.columns["record_id"])}  # a record_id given twice: its last row, as below
        by_id: Mapping[str, Any] = position
    else:
        by_id = {row["record_id"]: row for row in rows}
    missing = [r.record_id for r in records if r.record_id not in by_id]
    if missing or len(by_id) != len(records):
        raise ReconciliationError(
            f"the blocking indexes hold {len(by_id)} records for {len(records)} in records.tsv"
            + (f" (no row for {missing[0]})" if missing else ""),
            where="results/dedup/index/",
            fix="the indexes are stale: re-run snakemake (a run's index is rebuilt when its import tables change)",
        )
    if isinstance(rows, IndexColumns):
        return _prepared_from_columns(rows.columns, [position[r.record_id] for r in records])
    return _prepared_from_index([by_id[r.record_id] for r in records])


def run_index(*, parts: Sequence[str | Path], out: str | Path) -> int:
    """One dedup_index job: the blocking index of one run from its per-file import tables."""
    records = sorted((rec for path in parts for rec in read_records_tsv(path)), key=lambda r: r.record_id)
    rows = index_rows(records)
    write_tsv(out, INDEX_FIELDS, rows)
    LOG.info("blocking index: %d records", len(rows))
    return len(rows)


def _fuzzy_from_candidates(
    candidates: Iterable[Mapping[str, str]], index: Mapping[str, int]
) -> tuple[list[tuple[int, int, float, MatchRule | None]], dict[tuple[int, int], str]]:
    """Candidate-link rows (from any number of shards) as sorted, unique (i, j, score, rule), and
    the stored evidence of linking pairs."""
    found: dict[tuple[int, int], tuple[float, MatchRule | None]] = {}
    evidence: dict[tuple[int, int], str] = {}
    for row in candidates:
        where = row.get("_where") or row.get("_line") or "candidate links"
        a, b = row.get("record_a", ""), row.get("record_b", "")
        if a not in index or b not in index:
            raise ReconciliationError(
                f"candidate link {a} / {b} names a record that is not in records.tsv",
                where=str(where),
                fix="the candidate links are stale: re-run the dedup_candidates jobs (snakemake does when records.tsv changes)",
            )
        rule_id = row.get("rule", "")
        if rule_id and rule_id not in _RULES_BY_ID:
            raise ReconciliationError(f"unknown match rule {rule_id!r}", where=str(where), fix="re-run the dedup_candidates jobs")
        i, j = sorted((index[a], index[b]))
        found[(i, j)] = (int(row["score"]) / 100.0, _RULES_BY_ID.get(rule_id))
        if rule_id and row.get("evidence"):
            evidence[(i, j)] = row["evidence"]
    return [(i, j, s, rule) for (i, j), (s, rule) in sorted(found.items())], evidence


@collector_paused()
def run_candidates(
    *, index: Sequence[str | Path], run_id: str, shard: int, n_shards: int, out: str | Path, workers: int = 1
) -> int:
    """One dedup_candidates job: the candidate links run ``run_id`` adds (pairs with at least one of
    its records, compared with every record of it and of earlier runs) in the blocks of ``shard``
    (of ``n_shards``), read from the blocking indexes of that run and the earlier ones; writes
    CANDIDATE_FIELDS rows atomically and returns their number.

    When a run is added, the jobs of earlier runs keep their outputs: their inputs do not change.
    """
    columns = read_index_columns(index).columns
    runs = columns["run_id"]
    if run_id not in runs:
        LOG.warning("run %s has no records in the blocking indexes given", run_id)
    p = _prepared_from_columns(columns)
    links = _candidate_rows(p, runs, shard=shard, n_shards=n_shards, workers=workers, new_run=run_id)
    write_tsv(out, CANDIDATE_FIELDS, links)
    LOG.info("dedup candidates of run %s, shard %d/%d: %d records compared, %d candidate pairs", run_id, shard + 1, n_shards, len(runs), len(links))
    return len(links)


def read_candidates(paths: Iterable[str | Path]) -> list[dict[str, str]]:
    """Rows of every candidate-link part, each tagged with its file:line (``_where``)."""
    rows: list[dict[str, str]] = []
    for path in paths:
        for row in read_tsv(path, required=CANDIDATE_FIELDS):
            row["_where"] = f"{path}:{row['_line']}"
            rows.append(row)
    return rows


# --- the facade -------------------------------------------------------------------------------


def deduplicate(
    records: Sequence[Record],
    *,
    decisions: Sequence[DedupDecision] = (),
    previous_clusters: Sequence[Mapping[str, str]] | None = None,
    workers: int = 1,
    candidates: Iterable[Mapping[str, str]] | None = None,
    index_rows_in: Iterable[Mapping[str, str]] | IndexColumns | None = None,
) -> DedupResult:
    """Cluster duplicate records and merge each cluster into one canonical record.

    Links, strongest first: human ``link`` decisions (always applied), same PMID, same DOI, then
    fuzzy MATCH_RULES on candidate pairs from blocking (title prefix / suffix, first author + year,
    first author + first page) scored with rapidfuzz. A merge is refused when the cluster would hold
    two DOIs, two PMIDs, two kinds of report (registration, erratum, retraction, preprint,
    conference abstract, publication), two trial registrations or two records a person kept apart.
    Links are applied run by run (a link in the run of its later record): a record of a later run
    joins at most one cluster of earlier runs (a second such link is refused and listed as a maybe
    pair), and a cluster's canonical record and merged fields come from its first run's members, so
    adding a run never changes an earlier cluster. ``previous_clusters``
    (rows of an earlier clusters.tsv) keeps earlier cluster ids; otherwise a cluster's id is derived
    from its earliest member by (run_id, record_id). ``workers`` is passed to rapidfuzz.
    ``candidates`` (rows of candidate-link parts written by ``run_candidates``, one per shard)
    replaces the blocking and comparison step; the result is the same as without it.
    ``index_rows_in`` (rows of the runs' blocking indexes, written by ``run_index``, or those rows
    as IndexColumns, read by ``read_index_columns``) gives the
    normalised fields instead of normalising every record again; it must cover exactly ``records``.
    """
    index: dict[str, int] = {}
    for i, rec in enumerate(records):
        if rec.record_id in index:
            raise InputFormatError(
                f"record_id {rec.record_id} occurs twice",
                where=f"{rec.source_file}:{rec.source_line}" if rec.source_file else rec.record_id,
                fix="give every record a unique record_id",
            )
        index[rec.record_id] = i
    _check_decisions(decisions, index)
    check_decision_contradictions(decisions)
    p = _prepare(records) if index_rows_in is None else _prepared_in_order(index_rows_in, records)
    n = len(records)
    keep_apart = [(index[d.record_a], index[d.record_b]) for d in decisions if d.decision == DECISION_KEEP_APART]
    run_rank = {run: k for k, run in enumerate(sorted({r.run_id for r in records}, key=run_sort_key))}
    phase = [run_rank[r.run_id] for r in records]
    uf = _GuardedUnionFind(p, keep_apart, phase)
    decision_of: dict[frozenset[int], DedupDecision] = {
        frozenset((index[d.record_a], index[d.record_b])): d for d in decisions
    }

    # Links as (order, -score, i, j, rule, score, evidence), applied run by run (the phase of a
    # link is its later record's run), a person's links first in a run, then strongest first.
    links: list[tuple[int, float, int, int, str, float, str]] = []
    for d in decisions:
        if d.decision == DECISION_LINK:
            i, j = sorted((index[d.record_a], index[d.record_b]))
            links.append((0, -1.0, i, j, RULE_HUMAN, 1.0, f"{d.where} {d.reviewer} {d.date}"))
    for rule, values in ((RULE_PMID, p.pmid), (RULE_DOI, p.doi)):
        groups: dict[str, list[int]] = {}
        for i, v in enumerate(values):
            if v:
                groups.setdefault(v, []).append(i)
        for v, members in groups.items():
            if len(members) > 1:
                members.sort(key=lambda k: (phase[k], p.ids[k]))  # linked to the group's earliest record (not input order)
                for j in members[1:]:
                    links.append((RULE_ORDER[rule], -1.0, members[0], j, rule, 1.0, f"{rule}={v}"))
    if candidates is None:
        pairs, scores = candidate_pairs(p, workers=workers)
        fuzzy_rows = score_pairs(p, pairs, scores)
        stored_evidence: dict[tuple[int, int], str] = {}
    else:
        fuzzy_rows, stored_evidence = _fuzzy_from_candidates(candidates, index)
    LOG.info("dedup: %d records, %d candidate pairs at title similarity >= %.2f", n, len(fuzzy_rows), MAYBE_LOW)
    maybe: list[dict[str, Any]] = []
    for i, j, s, rule in fuzzy_rows:  # features recomputed for maybe pairs
        if rule is not None:
            evidence = stored_evidence.get((i, j)) or _describe(pair_features(p, i, j, s))
            links.append((RULE_ORDER[rule.id], -s, i, j, rule.id, s, evidence))
    # Ties broken by record ids, so the input order of the records never matters.
    id_rank = [0] * n  # record_id order as integers: a cheaper sort key than the ids themselves
    for rank, k in enumerate(sorted(range(n), key=p.ids.__getitem__)):
        id_rank[k] = rank
    links.sort(key=lambda x: (max(phase[x[2]], phase[x[3]]), x[0], x[1], min(id_rank[x[2]], id_rank[x[3]]), max(id_rank[x[2]], id_rank[x[3]])))

    accepted: dict[int, tuple[int, float, str, str, int]] = {}  # record -> (order, score, rule, evidence, partner)
    refused: dict[frozenset[int], tuple[str, str]] = {}  # pair -> (rule, reason) of its last refused link
    for order, _neg, i, j, rule, score, evidence in links:
        reason = uf.union(i, j, force=(rule == RULE_HUMAN))
        if reason:
            refused[frozenset((i, j))] = (rule, reason)
            continue
        now = max(phase[i], phase[j])
        for x, y in ((i, j), (j, i)):
            best = accepted.get(x)
            # A record keeps the link it was given in its own run: a later run never rewrites it.
            if best is None or (phase[x] == now and (order, -score) < (best[0], -best[1])):
                accepted[x] = (order, score, rule, evidence, y)

    def maybe_row(i: int, j: int, label: str, s: float) -> dict[str, Any]:
        return {"record_a": min(p.ids[i], p.ids[j]), "record_b": max(p.ids[i], p.ids[j]), "rule": label, "score": s, "fields": _describe(pair_features(p, i, j, s))}

    # Maybe pairs: near the threshold, or matching a rule but refused, and not in one cluster.
    for i, j, s, rule in fuzzy_rows:
        if uf.find(i) == uf.find(j):
            continue
        key = frozenset((i, j))
        if key in decision_of:
            continue
        if rule is not None:
            label = f"{rule.id} refused: {refused[key][1] if key in refused else uf.conflict(i, j) or 'conflict'}"
        elif key in refused:  # same PMID or DOI, refused
            label = "{} refused: {}".format(*refused[key])
        else:
            label = "below rules"
        maybe.append(maybe_row(i, j, label, s))
    # Same PMID or DOI but refused (e.g. it would join two clusters of earlier runs): a person decides.
    listed = {frozenset((i, j)) for i, j, _s, _r in fuzzy_rows}
    for order, _neg, i, j, rule, _score, _evidence in links:
        key = frozenset((i, j))
        if rule not in (RULE_PMID, RULE_DOI) or key not in refused or key in listed or key in decision_of or uf.find(i) == uf.find(j):
            continue
        listed.add(key)
        maybe.append(maybe_row(i, j, f"{rule} refused: {refused[key][1]}", round(fuzz.ratio(p.title[i], p.title[j])) / 100.0))
    maybe.sort(key=lambda r: (r["record_a"], r["record_b"]))

    # Clusters, canonical records, ids.
    members_of: dict[int, list[int]] = {}
    for i in range(n):
        members_of.setdefault(uf.find(i), []).append(i)
    anchors = _previous_anchors(previous_clusters or (), records)
    cluster_rows: list[dict[str, Any]] = []
    canonical_rows: list[dict[str, Any]] = []
    provenance_of: dict[str, list[dict[str, Any]]] = {}
    ledger_rows: list[dict[str, Any]] = []
    cluster_of: dict[str, str] = {}
    used_ids: set[str] = set()
    apart_of: dict[str, list[DedupDecision]] = {}
    for d in decisions:
        if d.decision == DECISION_KEEP_APART:
            apart_of.setdefault(d.record_a, []).append(d)
            apart_of.setdefault(d.record_b, []).append(d)
    for members in members_of.values():
        single = len(members) == 1  # most clusters: nothing to sort
        by_time = members if single else sorted(members, key=lambda k: (phase[k], records[k].record_id))
        cid = ""
        for k in by_time:
            prev = anchors.get(records[k].record_id)
            if prev and prev not in used_ids:
                cid = prev
                break
        if not cid:
            cid = cluster_id_for(records[by_time[0]].record_id)
        if cid in used_ids:  # only possible when previous ids were reused oddly
            raise ReconciliationError(f"cluster id {cid} would name two clusters", where="previous clusters.tsv", fix="re-run without previous clusters")
        used_ids.add(cid)
        # The canonical record and its merged fields come from the cluster's first run: a later
        # duplicate never changes an earlier cluster's record (nor, so, its screening).
        first = phase[by_time[0]]
        ordered = members if single else sorted((k for k in members if phase[k] == first), key=lambda k: (_db_rank(records[k].database), records[k].record_id))
        canon = ordered[0]
        canon_id = records[canon].record_id
        merged, prov = _merge([records[k] for k in ordered], cid)
        canonical_rows.append(merged)
        provenance_of[cid] = prov  # in RECORD_FIELDS order
        for k in members:
            rid = records[k].record_id
            cluster_of[rid] = cid
            if k == canon:
                rule = RULE_CANONICAL if len(members) > 1 else RULE_UNIQUE
                score: Any = None
                outcome, reference = OUTCOME_CANONICAL, ""
                evidence = f"preferred of {len(members)} records (database order {', '.join(DATABASES)}; ties by record_id)" if len(members) > 1 else ""
                if len(ordered) < len(members):
                    evidence = f"preferred of the {len(ordered)} records of the cluster's first run {records[canon].run_id} (database order {', '.join(DATABASES)}; ties by record_id); {len(members) - len(ordered)} record(s) of later runs joined it"
            else:
                _o, score, rule, evidence, partner = accepted[k]
                outcome, reference = OUTCOME_DUPLICATE, canon_id
                evidence = f"linked to {p.ids[partner]} by {rule} (score {score:.3f}): {evidence}"
            apart = apart_of.get(rid, [])
            if apart:
                evidence = "; ".join(
                    [evidence] * bool(evidence)
                    + [f"kept apart from {d.record_b if d.record_a == rid else d.record_a} by {d.where} {d.reviewer} {d.date}" for d in apart]
                )
            cluster_rows.append({"record_id": rid, "cluster_id": cid, "canonical_id": canon_id, "rule": rule, "score": score})
            ledger_rows.append(
                {
                    "record_id": rid,
                    "cluster_id": cid,
                    "stage": DEDUP_STAGE,
                    "outcome": outcome,
                    "reason": rule,
                    "reference": reference,
                    "evidence": evidence,
                }
            )
    cluster_rows.sort(key=lambda r: r["record_id"])
    ledger_rows.sort(key=lambda r: r["record_id"])
    canonical_rows.sort(key=lambda r: r["cluster_id"])
    provenance_rows = [row for cid in sorted(provenance_of) for row in provenance_of[cid]]  # by cluster, then field order
    if len(cluster_rows) != n:
        raise ReconciliationError(f"{n} records in but {len(cluster_rows)} cluster rows out", where="dedup")
    return DedupResult(cluster_rows, maybe, canonical_rows, provenance_rows, ledger_rows, cluster_of)


# --- file-level entry points ---------------------------------------------------------------------


def read_records_tsv(path: str | Path) -> list[Record]:
    """Records from a records.tsv (columns RECORD_FIELDS)."""
    return read_records_table(path, required=("record_id", "title"))


@collector_paused()
def run_dedup(
    *,
    records: str | Path,
    decisions: str | Path | Sequence[str] | None,
    clusters_out: str | Path,
    maybe_out: str | Path,
    canonical_out: str | Path,
    provenance_out: str | Path,
    ledger_out: str | Path,
    previous_clusters: str | Path | None = None,
    workers: int = 1,
    candidates: Sequence[str | Path] | None = None,
    index: Sequence[str | Path] | None = None,
) -> DedupResult:
    """The deduplicate_records stage: read records.tsv (+ optional decisions and previous
    clusters.tsv), write clusters, maybe pairs, canonical records, provenance and ledger rows.

    ``candidates`` (the candidate-link parts of every shard) replaces the comparison step and
    ``index`` (the blocking index of every run) the normalisation."""
    recs = read_records_tsv(records)
    if isinstance(decisions, (list, tuple)) or (decisions is not None and not isinstance(decisions, (str, Path))):
        decisions = list(decisions)[0] if list(decisions) else None  # type: ignore[arg-type]
    loaded = load_dedup_decisions(decisions) if decisions and Path(str(decisions)).exists() else []
    previous = read_tsv(previous_clusters, required=CLUSTER_FIELDS) if previous_clusters and Path(previous_clusters).exists() else None
    links = read_candidates(candidates) if candidates is not None else None
    prepared = read_index_columns(index) if index is not None else None
    result = deduplicate(recs, decisions=loaded, previous_clusters=previous, workers=workers, candidates=links, index_rows_in=prepared)
    write_tsv(clusters_out, CLUSTER_FIELDS, result.clusters)
    write_tsv(maybe_out, MAYBE_PAIR_FIELDS, result.maybe_pairs)
    write_tsv(canonical_out, CANONICAL_FIELDS, result.canonical)
    write_tsv(provenance_out, PROVENANCE_FIELDS, result.provenance)
    write_tsv(ledger_out, LEDGER_FIELDS, result.ledger)
    dups = sum(1 for r in result.ledger if r["outcome"] == OUTCOME_DUPLICATE)
    LOG.info(
        "dedup: %d records -> %d clusters (%d duplicates), %d maybe pairs, %d human decisions",
        len(recs),
        result.n_clusters,
        dups,
        len(result.maybe_pairs),
        len(loaded),
    )
    return result

