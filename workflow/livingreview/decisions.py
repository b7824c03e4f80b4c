"""Human screening decisions (resources/screening/decisions.tsv): validation, resolution and agreement."""

from __future__ import annotations

import datetime as _dt
import itertools
import logging
import os
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from .config import SCHEMA_DIR, error_path, first_schema_error, load_yaml, schema_label, schema_message, schema_validator
from .constants import DATABASES, DECISION_FIELDS, DECISION_STAGES
from .errors import ConfigError
from .records import Record
from .tables import read_tsv, tsv_header, workdir_relative

LOG = logging.getLogger(__name__)

DECISIONS_SCHEMA = SCHEMA_DIR / "decisions.schema.yaml"
INCLUDE = "include"
EXCLUDE = "exclude"
# A resolution row settles a disagreement: reviewer "consensus" or a note starting "resolution:".
RESOLUTION_REVIEWER = "consensus"
RESOLUTION_NOTE_PREFIX = "resolution:"
# Databases whose native id is a PMID (so "pubmed:123" also answers to the key "123").
PMID_DATABASES: frozenset[str] = frozenset({"pubmed", "medline"})


@dataclass(frozen=True, slots=True)
class Decision:
    """One validated row of decisions.tsv."""

    key: str
    stage: str
    decision: str  # include | exclude
    reason: str  # reason code ("" allowed for include)
    reviewer: str
    date: str
    note: str
    line: int  # 1-based line in the file
    source: str  # path of the file as given

    @property
    def reference(self) -> str:
        """``resources/screening/decisions.tsv:LINE`` as the ledger cites it: the path relative to the
        review folder (so a screening decision is not mistaken for a dedup one), or the file name
        alone for a file outside it."""
        shown = workdir_relative(self.source)
        return f"{Path(shown).name if Path(shown).is_absolute() else shown}:{self.line}"

    @property
    def is_resolution(self) -> bool:
        """True for a row that settles a disagreement (reviewer consensus or note 'resolution: ...')."""
        return self.reviewer.strip().lower() == RESOLUTION_REVIEWER or self.note.strip().lower().startswith(RESOLUTION_NOTE_PREFIX)

    def describe(self) -> str:
        """Who decided what, when, and why, in one line (ledger evidence)."""
        parts = [f"{self.decision} by {self.reviewer} on {self.date}"]
        if self.reason:
            parts.append(f"reason {self.reason}")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


def key_kind(key: str) -> str:
    """Classify a decision key: 'record_id', 'pmid', 'doi' or '' when it is none of them."""
    k = key.strip()
    if k.isdigit():
        return "pmid"
    if k.lower().startswith("10.") and "/" in k:
        return "doi"
    if ":" in k and k.split(":", 1)[0].lower() in DATABASES and k.split(":", 1)[1]:
        return "record_id"
    return ""


def is_calendar_date(text: str) -> bool:
    """True for a real YYYY-MM-DD date (the schemas check only the pattern: 2026-02-30 matches it)."""
    try:
        _dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def require_calendar_date(text: str, where: str) -> None:
    """ConfigError at ``where`` unless ``text`` is a real YYYY-MM-DD date (a decision's date column)."""
    if not is_calendar_date(text):
        raise ConfigError(f"date {text!r} is not a calendar date", where=where, fix="write the date as YYYY-MM-DD")


# The latest calendar date anywhere (UTC+14, Kiribati): a decision dated on the day a team east of
# UTC made it, or on a search run's day (the local clock dates runs), is never refused as future.
EARLIEST_ZONE = _dt.timezone(_dt.timedelta(hours=14), "UTC+14")


def refuse_future_dates(dated: Iterable[tuple[str, str]], *, now: _dt.datetime | None = None) -> None:
    """Stop (ConfigError naming ``where``) at the first (date, where) of ``dated`` whose date no time
    zone has reached at ``now`` (default: the current time): after today's date in UTC+14, so after
    today's date in UTC too. The date decides which version of the review a human decision counts in,
    so a mistyped year (2062 for 2026) would move it into the column of some later update, silently.
    Dates are YYYY-MM-DD (the schemas' pattern), so they compare as text. Only refuses: what a valid
    input gives does not depend on the clock."""
    now = now if now is not None else _dt.datetime.now(_dt.UTC)
    latest = now.astimezone(EARLIEST_ZONE).date().isoformat()
    for date, where in dated:
        if date > latest:
            today = now.astimezone(_dt.UTC).date().isoformat()
            raise ConfigError(
                f"date {date} is in the future (today is {today} UTC); a decision's date says which version of the review it counts in",
                where=where,
                fix="write the date the decision was made, YYYY-MM-DD (check the year)",
            )


def load_decisions(path: str | os.PathLike[str], reasons: Collection[str] | Mapping[str, str]) -> list[Decision]:
    """Read and validate decisions.tsv.

    ``reasons`` holds the allowed reason codes (a mapping code -> label is fine). Every row is
    checked against workflow/schemas/decisions.schema.yaml and then: the key is a record_id, PMID or
    DOI; the reason is a known code and present for ``exclude``; the date is a real calendar date.
    Raises ConfigError/InputFormatError naming ``file:line`` and the fix. Keys are resolved against
    records later (:func:`resolve_decisions`).
    """
    p = Path(path)
    rows = read_tsv(p, required=DECISION_FIELDS)  # a byte that is not UTF-8: file:line, not a traceback
    schema = load_yaml(DECISIONS_SCHEMA)
    validator = schema_validator(schema)
    codes = set(reasons)
    out: list[Decision] = []
    extra = [c for c in tsv_header(p) if c not in DECISION_FIELDS]  # checked even when no row follows the header
    if extra:
        named = ", ".join(repr(c) for c in extra if c)
        unnamed = "a column without a name (a tab at the end of the header line?)" if "" in extra else ""
        raise ConfigError(
            f"unknown column(s) {'; '.join(x for x in (named, unnamed) if x)}",
            where=f"{p}:1",
            fix=f"use only the columns {', '.join(DECISION_FIELDS)} (tab-separated, no tab after the last)",
        )
    for row in rows:
        line = int(row.pop("_line"))
        where = f"{p}:{line}"
        cells = {k: (row.get(k) or "").strip() for k in DECISION_FIELDS}
        err = first_schema_error(validator, cells)
        if err is not None:
            column = error_path(err, empty="(row)")
            value = cells.get(column, "")
            raise ConfigError(
                f"column '{column}' value {value!r} is not allowed ({schema_message(err)})",
                where=where,
                fix=f"see {schema_label(DECISIONS_SCHEMA)} and config/README.md (screening decisions)",
            )
        if not key_kind(cells["key"]):
            raise ConfigError(
                f"key {cells['key']!r} is neither a record_id (<database>:<id>, database one of {', '.join(DATABASES)}), a PMID nor a DOI",
                where=where,
                fix="write the record_id, PMID or DOI of the record",
            )
        if cells["decision"] == EXCLUDE and not cells["reason"]:
            raise ConfigError("an exclude decision needs a reason code", where=where, fix=f"put one of {', '.join(sorted(codes))} in the reason column")
        if cells["reason"] and cells["reason"] not in codes:
            raise ConfigError(
                f"unknown reason code {cells['reason']!r}",
                where=where,
                fix=f"use one of {', '.join(sorted(codes))} (config/screening.yaml reasons:) or add the code there",
            )
        require_calendar_date(cells["date"], where)
        out.append(Decision(line=line, source=str(path), **cells))
    LOG.info("%s: %d decisions", p, len(out))
    return out


@dataclass
class ClusterIndex:
    """Which cluster each record_id, PMID and DOI belongs to (for resolving human keys)."""

    cluster_of: dict[str, str] = field(default_factory=dict)  # record_id -> cluster_id
    canonical_of: dict[str, str] = field(default_factory=dict)  # cluster_id -> canonical record_id
    members: dict[str, list[str]] = field(default_factory=dict)  # cluster_id -> sorted record_ids
    keys: dict[str, set[str]] = field(default_factory=dict)  # lower-case key -> cluster_ids

    def add_key(self, key: str, cluster_id: str) -> None:
        """Let ``key`` (case-insensitive) name ``cluster_id``; an empty key is no key."""
        if key:
            self.keys.setdefault(key.strip().lower(), set()).add(cluster_id)

    def add_record(self, record: Record) -> None:
        """Register a record's record_id, PMID and DOI under its cluster (it must be in a cluster)."""
        cid = self.cluster_of.get(record.record_id)
        if cid is None:
            raise ConfigError(
                f"record {record.record_id} is in no cluster",
                where="results/dedup/clusters.tsv",
                fix="re-run deduplication so every record gets a cluster",
            )
        self.add_key(record.record_id, cid)
        self.add_key(record.pmid, cid)
        self.add_key(record.doi, cid)

    def resolve(self, key: str) -> set[str]:
        """Cluster ids matching a key (case-insensitive); empty when none."""
        return set(self.keys.get(key.strip().lower(), set()))

    def resolve_one(self, key: str, *, where: str) -> str:
        """The single cluster a key names; unknown or ambiguous keys raise ConfigError naming ``where``."""
        found = self.resolve(key)
        if not found:
            raise ConfigError(
                f"key {key!r} matches no record (record_id, PMID or DOI of any cluster member)",
                where=where,
                fix="correct the key, or check the record is in the archived searches",
            )
        if len(found) > 1:
            listed = ", ".join(f"{c} ({self.canonical_of.get(c, '?')})" for c in sorted(found))
            raise ConfigError(
                f"key {key!r} matches more than one cluster: {listed}",
                where=where,
                fix="use the record_id of the intended record, or link the clusters in resources/dedup/decisions.tsv",
            )
        return next(iter(found))


def build_index(canonical: Iterable[Record], clusters: Iterable[Mapping[str, str]], *, records: Iterable[Record] = ()) -> ClusterIndex:
    """Index clusters.tsv rows plus the canonical records (and optionally every record) by key.

    A member's record_id always answers; for PubMed/MEDLINE ids the native id is a PMID, so
    "pubmed:123" also answers to "123" even when only the canonical record's fields are known.
    """
    idx = ClusterIndex()
    cluster_of, members, canonical_of, keys = idx.cluster_of, idx.members, idx.canonical_of, idx.keys

    def add_key(key: str, cid: str) -> None:  # ClusterIndex.add_key, without a new set for a key already there
        if key:
            key = key.strip().lower()
            found = keys.get(key)
            if found is None:
                keys[key] = {cid}
            else:
                found.add(cid)

    for row in clusters:
        rid, cid = row["record_id"], row["cluster_id"]
        cluster_of[rid] = cid
        group = members.get(cid)
        if group is None:
            members[cid] = [rid]
        else:
            group.append(rid)
        if row.get("canonical_id") and row.get("canonical_id") == rid:
            canonical_of[cid] = rid
        add_key(rid, cid)
        db, _, native = rid.partition(":")
        if db in PMID_DATABASES and native.isdigit():
            add_key(native, cid)
    for group in members.values():
        group.sort()
    for rec in canonical:
        cid = cluster_of.get(rec.record_id)
        if cid is None:
            idx.add_record(rec)  # raises: the record is in no cluster
        # add_record's keys; its record_id is there already, under this cluster (added with cluster_of above)
        add_key(rec.pmid, cid)
        add_key(rec.doi, cid)
        canonical_of.setdefault(cid, rec.record_id)
    for rec in records:
        if rec.record_id in idx.cluster_of:
            idx.add_record(rec)
    return idx


@dataclass(frozen=True)
class StageDecision:
    """The settled human decision for one cluster at one stage, with every row that led to it."""

    cluster_id: str
    stage: str
    final: Decision
    rows: tuple[Decision, ...]

    @property
    def reviewer_firsts(self) -> dict[str, Decision]:
        """Each (non-resolution) reviewer's first row for this cluster and stage: the independent
        judgement, before any discussion changed it (what agreement statistics compare)."""
        out: dict[str, Decision] = {}
        for d in sorted(self.rows, key=lambda d: d.line):
            if not d.is_resolution and d.reviewer not in out:
                out[d.reviewer] = d
        return out

    @property
    def reviewer_finals(self) -> dict[str, Decision]:
        """Each (non-resolution) reviewer's last row for this cluster and stage."""
        out: dict[str, Decision] = {}
        for d in self.rows:
            if not d.is_resolution:
                out[d.reviewer] = d
        return out


def resolve_decisions(decisions: Sequence[Decision], index: ClusterIndex) -> dict[tuple[str, str], StageDecision]:
    """Settle the decisions per (cluster_id, stage).

    Each reviewer's final decision is their last row (file order) for the cluster and stage. When the
    reviewers' finals disagree (include vs exclude) a resolution row is required (reviewer
    "consensus" or a note starting "resolution:"); the last resolution row then wins. Unknown keys,
    ambiguous keys and unresolved disagreements raise ConfigError naming file:line.
    """
    grouped: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for d in decisions:
        cid = index.resolve_one(d.key, where=f"{d.source}:{d.line}")
        grouped[(cid, d.stage)].append(d)
    settled: dict[tuple[str, str], StageDecision] = {}
    for (cid, stage), rows in sorted(grouped.items()):
        rows.sort(key=lambda d: d.line)
        resolutions = [d for d in rows if d.is_resolution]
        finals: dict[str, Decision] = {}
        for d in rows:
            if not d.is_resolution:
                finals[d.reviewer] = d
        if resolutions:
            final = resolutions[-1]
        else:
            verdicts = {d.decision for d in finals.values()}
            if len(verdicts) > 1:
                lines = ", ".join(f"{d.reference} ({d.reviewer}: {d.decision})" for d in sorted(finals.values(), key=lambda d: d.line))
                raise ConfigError(
                    f"reviewers disagree on {index.canonical_of.get(cid, cid)} at {stage}: {lines}",
                    where=f"{rows[-1].source}:{rows[-1].line}",
                    fix=f"add a resolution row (reviewer '{RESOLUTION_REVIEWER}' or a note starting '{RESOLUTION_NOTE_PREFIX}') with the agreed decision",
                )
            final = max(finals.values(), key=lambda d: d.line)
        settled[(cid, stage)] = StageDecision(cluster_id=cid, stage=stage, final=final, rows=tuple(rows))
    return settled


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; None when chance agreement is 1 or no items."""
    if len(first) != len(second):
        raise ValueError("the two raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    categories = sorted(set(first) | set(second))
    observed = sum(1 for a, b in zip(first, second) if a == b) / n
    expected = sum((list(first).count(c) / n) * (list(second).count(c) / n) for c in categories)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def agreement(settled: Mapping[tuple[str, str], StageDecision]) -> dict[str, Any]:
    """Inter-reviewer agreement per stage: Cohen's kappa for every pair of reviewers with shared records,
    on each reviewer's first (independent) decision, so a decision changed after discussion does not
    count as agreement.

    Per stage returns {"computable": bool, "why": str, "reviewers": [...], "pairs": [{"reviewers",
    "n", "agreement", "kappa"}], "screened_by_two_or_more": the number of records two or more
    reviewers decided (with three reviewers the pairs' n overlap, so it is not their sum)}. Resolution rows are not a reviewer. Kappa is only computed for
    paired decisions; otherwise the stage says why it is not computable.
    """
    out: dict[str, Any] = {}
    for stage in DECISION_STAGES:
        per_reviewer: dict[str, dict[str, str]] = defaultdict(dict)
        for (cid, st), sd in settled.items():
            if st != stage:
                continue
            for reviewer, d in sd.reviewer_firsts.items():  # independent decisions, not ones changed after discussion
                per_reviewer[reviewer][cid] = d.decision
        reviewers = sorted(per_reviewer)
        # records two or more reviewers decided (a record several pairs share counts once)
        by_two = sum(1 for (_cid, st), sd in settled.items() if st == stage and len(sd.reviewer_firsts) >= 2)
        entry: dict[str, Any] = {"reviewers": reviewers, "pairs": [], "screened_by_two_or_more": by_two}
        if not reviewers:
            entry.update(computable=False, why="no human decisions at this stage")
        elif len(reviewers) == 1:
            entry.update(computable=False, why=f"single reviewer ({reviewers[0]}): no record was decided by two reviewers")
        else:
            for a, b in itertools.combinations(reviewers, 2):
                shared = sorted(set(per_reviewer[a]) & set(per_reviewer[b]))
                if not shared:
                    continue
                la = [per_reviewer[a][c] for c in shared]
                lb = [per_reviewer[b][c] for c in shared]
                kappa = cohen_kappa(la, lb)
                pair: dict[str, Any] = {
                    "reviewers": [a, b],
                    "n": len(shared),
                    "agreement": sum(1 for x, y in zip(la, lb) if x == y) / len(shared),
                    "kappa": kappa,
                }
                if kappa is None:
                    pair["why"] = "both reviewers gave one and the same decision to every shared record (chance agreement is 1)"
                entry["pairs"].append(pair)
            if entry["pairs"]:
                computable = any(p["kappa"] is not None for p in entry["pairs"])
                entry.update(computable=computable, why="" if computable else "kappa undefined for every pair (no variation in decisions)")
            else:
                entry.update(computable=False, why=f"{len(reviewers)} reviewers but no record decided by two of them")
        out[stage] = entry
    return out


def decision_dates(decisions: str | os.PathLike[str], rules: str | os.PathLike[str]) -> dict[str, str]:
    """The date of every row of decisions.tsv, by the reference the ledger and screening.tsv cite it
    with (decisions.tsv:LINE); ``rules`` (config/screening.yaml) gives the reason codes it is checked against."""
    from .screening import load_rules

    return dates_by_reference(load_decisions(decisions, load_rules(rules).reasons))


def dates_by_reference(decisions: Iterable[Decision]) -> dict[str, str]:
    """The date of each decision, by the reference the ledger and screening.tsv cite it with."""
    return {d.reference: d.date for d in decisions}
